// echo answers each echo with its own value.
package main

import "dsim.test/wasmnodes/mnode"

func main() {
	n := mnode.New()
	n.Handle("echo", func(m mnode.Msg) {
		n.Reply(m, map[string]any{"type": "echo_ok", "echo": m.Body["echo"]})
	})
	n.Run()
}
