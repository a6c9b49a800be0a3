// exit answers its first echo, then exits with code 3.
package main

import (
	"fmt"
	"os"

	"dsim.test/wasmnodes/mnode"
)

func main() {
	n := mnode.New()
	n.Handle("echo", func(m mnode.Msg) {
		n.Reply(m, map[string]any{"type": "echo_ok", "echo": m.Body["echo"]})
		fmt.Fprintln(os.Stderr, "exit: giving up after one echo")
		os.Exit(3)
	})
	n.Run()
}
