// kafka is a Maelstrom kafka-style log for dsim's tests: node n0 keeps
// every key's log and committed offsets; any other node forwards each
// request to n0 and relays n0's answer to its client. Offsets are the
// index in the key's log, so a log never skips or reorders.
package main

import (
	"sync"

	"dsim.test/wasmnodes/mnode"
)

func main() {
	n := mnode.New()
	var mu sync.Mutex
	logs := map[string][]float64{}
	committed := map[string]float64{}

	// serve answers body as n0 does.
	serve := func(body map[string]any) map[string]any {
		mu.Lock()
		defer mu.Unlock()
		switch body["type"] {
		case "send":
			k := body["key"].(string)
			logs[k] = append(logs[k], body["msg"].(float64))
			return map[string]any{"type": "send_ok", "offset": len(logs[k]) - 1}
		case "poll":
			msgs := map[string]any{}
			for k, o := range body["offsets"].(map[string]any) {
				pairs := [][2]float64{}
				for i := int(o.(float64)); i >= 0 && i < len(logs[k]); i++ {
					pairs = append(pairs, [2]float64{float64(i), logs[k][i]})
				}
				msgs[k] = pairs
			}
			return map[string]any{"type": "poll_ok", "msgs": msgs}
		case "commit_offsets":
			for k, o := range body["offsets"].(map[string]any) {
				if o.(float64) > committed[k] {
					committed[k] = o.(float64)
				}
			}
			return map[string]any{"type": "commit_offsets_ok"}
		default: // list_committed_offsets
			out := map[string]any{}
			for _, k := range body["keys"].([]any) {
				if o, ok := committed[k.(string)]; ok {
					out[k.(string)] = o
				}
			}
			return map[string]any{"type": "list_committed_offsets_ok", "offsets": out}
		}
	}
	handle := func(m mnode.Msg) {
		if n.ID == "n0" {
			n.Reply(m, serve(m.Body))
			return
		}
		fwd := map[string]any{}
		for k, v := range m.Body {
			if k != "msg_id" {
				fwd[k] = v
			}
		}
		n.RPC("n0", fwd, func(r mnode.Msg) {
			out := map[string]any{}
			for k, v := range r.Body {
				if k != "msg_id" && k != "in_reply_to" {
					out[k] = v
				}
			}
			n.Reply(m, out)
		})
	}
	for _, t := range []string{"send", "poll", "commit_offsets", "list_committed_offsets"} {
		n.Handle(t, handle)
	}
	n.Run()
}
