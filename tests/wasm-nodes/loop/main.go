// loop answers init, then spins forever on its first echo: it never
// blocks again.
package main

import "dsim.test/wasmnodes/mnode"

var sink int

func main() {
	n := mnode.New()
	n.Handle("echo", func(m mnode.Msg) {
		for i := 0; ; i++ {
			sink += i
		}
	})
	n.Run()
}
