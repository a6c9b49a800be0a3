// broadcast keeps a set and forwards each new element to its topology
// neighbours once, fire and forget. The bug: a forward lost to a
// partition is never sent again, so an element broadcast while the
// cluster is cut can stay missing on the far side; a run without a cut at
// the wrong moment shows nothing.
package main

import (
	"sort"

	"dsim.test/wasmnodes/mnode"
)

func main() {
	n := mnode.New()
	seen := map[float64]bool{}
	var neighbours []string
	add := func(v float64) bool {
		n.Mu.Lock()
		defer n.Mu.Unlock()
		if seen[v] {
			return false
		}
		seen[v] = true
		return true
	}
	forward := func(from string, v float64) {
		for _, p := range neighbours {
			if p != from {
				n.Send(p, map[string]any{"type": "gossip", "message": v})
			}
		}
	}
	n.Handle("topology", func(m mnode.Msg) {
		t := m.Body["topology"].(map[string]any)
		for _, p := range t[n.ID].([]any) {
			neighbours = append(neighbours, p.(string))
		}
		n.Reply(m, map[string]any{"type": "topology_ok"})
	})
	n.Handle("broadcast", func(m mnode.Msg) {
		v := m.Body["message"].(float64)
		if add(v) {
			forward("", v)
		}
		n.Reply(m, map[string]any{"type": "broadcast_ok"})
	})
	n.Handle("gossip", func(m mnode.Msg) {
		v := m.Body["message"].(float64)
		if add(v) {
			forward(m.Src, v)
		}
	})
	n.Handle("read", func(m mnode.Msg) {
		n.Mu.Lock()
		all := make([]float64, 0, len(seen))
		for v := range seen {
			all = append(all, v)
		}
		n.Mu.Unlock()
		sort.Float64s(all)
		n.Reply(m, map[string]any{"type": "read_ok", "messages": all})
	})
	n.Run()
}
