// chatty is echo that logs every request on stderr and writes each reply
// in three pieces (the host must join them into one line).
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"dsim.test/wasmnodes/mnode"
)

func main() {
	n := mnode.New()
	n.Handle("echo", func(m mnode.Msg) {
		fmt.Fprintf(os.Stderr, "chatty %s: echo %v from %s\n", n.ID, m.Body["echo"], m.Src)
		b, _ := json.Marshal(mnode.Msg{Src: n.ID, Dest: m.Src, Body: map[string]any{
			"type": "echo_ok", "echo": m.Body["echo"], "in_reply_to": m.Body["msg_id"],
		}})
		half := len(b) / 2
		os.Stdout.Write(b[:half])
		os.Stdout.Write(b[half:])
		os.Stdout.Write([]byte("\n"))
	})
	n.Run()
}
