// counter is a grow-only counter over seq-kv: each node keeps its own
// total under its own key (only it writes there, so read-then-write
// cannot lose an add); a read sums every node's key. A ticker refreshes
// the node's view of the others' keys every 200 ms.
package main

import (
	"sync"
	"time"

	"dsim.test/wasmnodes/mnode"
)

func main() {
	n := mnode.New()
	var mine float64
	others := map[string]float64{}
	var mu sync.Mutex
	write := func() {
		mu.Lock()
		v := mine
		mu.Unlock()
		n.RPC("seq-kv", map[string]any{"type": "write", "key": n.ID, "value": v}, func(mnode.Msg) {})
	}
	refresh := func() {
		for _, id := range n.IDs {
			id := id
			n.RPC("seq-kv", map[string]any{"type": "read", "key": id}, func(r mnode.Msg) {
				if v, ok := r.Body["value"].(float64); ok {
					mu.Lock()
					if v > others[id] {
						others[id] = v
					}
					mu.Unlock()
				}
			})
		}
	}
	n.OnInit = func() {
		go func() {
			for range time.Tick(200 * time.Millisecond) {
				refresh()
			}
		}()
	}
	n.Handle("add", func(m mnode.Msg) {
		mu.Lock()
		mine += m.Body["delta"].(float64)
		mu.Unlock()
		write()
		n.Reply(m, map[string]any{"type": "add_ok"})
	})
	n.Handle("read", func(m mnode.Msg) {
		mu.Lock()
		total := mine
		for id, v := range others {
			if id != n.ID {
				total += v
			}
		}
		mu.Unlock()
		n.Reply(m, map[string]any{"type": "read_ok", "value": total})
	})
	n.Run()
}
