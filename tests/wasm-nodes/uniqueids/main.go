// uniqueids answers each generate with the node's id and a counter of its
// own, so no two answers are equal across the cluster.
package main

import (
	"fmt"
	"sync"

	"dsim.test/wasmnodes/mnode"
)

func main() {
	n := mnode.New()
	var mu sync.Mutex
	next := 0
	n.Handle("generate", func(m mnode.Msg) {
		mu.Lock()
		next++
		id := fmt.Sprintf("%s-%d", n.ID, next)
		mu.Unlock()
		n.Reply(m, map[string]any{"type": "generate_ok", "id": id})
	})
	n.Run()
}
