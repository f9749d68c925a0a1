package fs_test

import (
	"bufio"
	"io"
	"net"
	"regexp"
	"strconv"
	"sync"
	"testing"
)

// hookProxy forwards IMAP connections to a server and calls before with
// each command line a client sends, before the server sees it: a test
// can act between two commands of the mount (deliver mail between a
// check and a delete).
type hookProxy struct {
	addr   string
	before func(line string)
}

var literalAtEnd = regexp.MustCompile(`\{(\d+)\+?\}\r\n$`)

func newHookProxy(t *testing.T, backend string, before func(line string)) *hookProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &hookProxy{addr: ln.Addr().String(), before: before}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", backend)
			if err != nil {
				client.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, client, server)
			mu.Unlock()
			wg.Add(2)
			go func() {
				defer wg.Done()
				io.Copy(client, server)
				client.Close()
			}()
			go func() {
				defer wg.Done()
				p.forward(server, client)
				server.Close()
			}()
		}
	}()
	return p
}

// forward copies the client's commands line by line, and literals whole.
func (p *hookProxy) forward(server io.Writer, client io.Reader) {
	r := bufio.NewReader(client)
	continuation := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		if !continuation {
			p.before(line)
		}
		if _, err := io.WriteString(server, line); err != nil {
			return
		}
		continuation = false
		if m := literalAtEnd.FindStringSubmatch(line); m != nil {
			n, _ := strconv.ParseInt(m[1], 10, 64)
			if _, err := io.CopyN(server, r, n); err != nil {
				return
			}
			continuation = true
		}
	}
}
