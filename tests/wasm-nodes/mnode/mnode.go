// Package mnode is a minimal Maelstrom node loop written for dsim's tests:
// stdin carries one JSON message per line, each reply is one line on
// stdout. It uses only Go's standard library.
package mnode

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sync"
)

// Msg is a Maelstrom envelope.
type Msg struct {
	Src  string         `json:"src"`
	Dest string         `json:"dest"`
	Body map[string]any `json:"body"`
}

// Type is the body's type.
func (m Msg) Type() string {
	t, _ := m.Body["type"].(string)
	return t
}

// Node dispatches messages by type and replies by in_reply_to.
type Node struct {
	Mu        sync.Mutex
	ID        string
	IDs       []string
	handlers  map[string]func(Msg)
	callbacks map[float64]func(Msg)
	next      float64
	out       sync.Mutex
	// OnInit runs after init, before init_ok is sent.
	OnInit func()
}

// New returns a node with no handlers.
func New() *Node {
	return &Node{handlers: map[string]func(Msg){}, callbacks: map[float64]func(Msg){}}
}

// Handle registers f for messages of type t.
func (n *Node) Handle(t string, f func(Msg)) { n.handlers[t] = f }

// Send writes one message: the JSON, then the newline, as two writes.
func (n *Node) Send(dest string, body map[string]any) {
	b, err := json.Marshal(Msg{Src: n.ID, Dest: dest, Body: body})
	if err != nil {
		fmt.Fprintln(os.Stderr, "marshal:", err)
		return
	}
	n.out.Lock()
	defer n.out.Unlock()
	os.Stdout.Write(b)
	os.Stdout.Write([]byte("\n"))
}

// Reply answers req with body.
func (n *Node) Reply(req Msg, body map[string]any) {
	body["in_reply_to"] = req.Body["msg_id"]
	n.Send(req.Src, body)
}

// RPC sends body with a fresh msg_id; cb gets the reply.
func (n *Node) RPC(dest string, body map[string]any, cb func(Msg)) {
	n.Mu.Lock()
	n.next++
	id := n.next
	n.callbacks[id] = cb
	n.Mu.Unlock()
	body["msg_id"] = id
	n.Send(dest, body)
}

// Run reads stdin until it ends.
func (n *Node) Run() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<16), 1<<24)
	for in.Scan() {
		var m Msg
		if err := json.Unmarshal(in.Bytes(), &m); err != nil {
			fmt.Fprintln(os.Stderr, "bad line:", err)
			continue
		}
		if r, ok := m.Body["in_reply_to"].(float64); ok && r != 0 {
			n.Mu.Lock()
			cb := n.callbacks[r]
			delete(n.callbacks, r)
			n.Mu.Unlock()
			if cb != nil {
				go cb(m)
			}
			continue
		}
		if m.Type() == "init" {
			n.ID, _ = m.Body["node_id"].(string)
			for _, id := range m.Body["node_ids"].([]any) {
				n.IDs = append(n.IDs, id.(string))
			}
			if n.OnInit != nil {
				n.OnInit()
			}
			n.Reply(m, map[string]any{"type": "init_ok"})
			continue
		}
		h := n.handlers[m.Type()]
		if h == nil {
			fmt.Fprintf(os.Stderr, "no handler for %q\n", m.Type())
			os.Exit(1)
		}
		go h(m)
	}
}
