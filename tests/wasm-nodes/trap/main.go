// trap stores through a wild pointer on its first echo: the WebAssembly
// machine traps (out of bounds memory access).
package main

import (
	"unsafe"

	"dsim.test/wasmnodes/mnode"
)

var wild = uintptr(0xfffffff0)

func main() {
	n := mnode.New()
	n.Handle("echo", func(m mnode.Msg) {
		p := (*int64)(unsafe.Pointer(wild))
		*p = 1
		n.Reply(m, map[string]any{"type": "echo_ok", "echo": m.Body["echo"]})
	})
	n.Run()
}
