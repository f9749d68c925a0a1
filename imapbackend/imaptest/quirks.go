package imaptest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"regexp"
	"sync"
)

// quirkFilter sits in front of a memory server and makes it answer as
// servers do that lack what go-imap's imapserver always offers: no
// UNSELECT (Courier), or SELECT answers without OK [UIDNEXT] (Courier).
type quirkFilter struct {
	addr      string
	backend   string
	noUnsel   bool
	noUIDNext bool

	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

var (
	uidNextLine   = regexp.MustCompile(`(?i)^\* OK \[UIDNEXT \d+\]`)
	capabilityTok = regexp.MustCompile(`(?i)\bCAPABILITY\b`)
	unselectTok   = regexp.MustCompile(`(?i) UNSELECT\b`)
)

func startQuirkFilter(backend string, noUnselect, noUIDNext bool) (*quirkFilter, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("imaptest: quirk filter: listen: %w", err)
	}
	f := &quirkFilter{addr: ln.Addr().String(), backend: backend, noUnsel: noUnselect, noUIDNext: noUIDNext,
		ln: ln, conns: make(map[net.Conn]struct{})}
	f.wg.Add(1)
	go f.accept()
	return f, nil
}

func (f *quirkFilter) accept() {
	defer f.wg.Done()
	for {
		cl, err := f.ln.Accept()
		if err != nil {
			return
		}
		sv, err := net.Dial("tcp", f.backend)
		if err != nil {
			cl.Close()
			continue
		}
		f.mu.Lock()
		f.conns[cl], f.conns[sv] = struct{}{}, struct{}{}
		f.mu.Unlock()
		var wmu sync.Mutex // one response at a time towards the client
		f.wg.Add(2)
		go func() {
			defer f.wg.Done()
			f.fromServer(cl, sv, &wmu)
			cl.Close()
			sv.Close()
		}()
		go func() {
			defer f.wg.Done()
			f.fromClient(cl, sv, &wmu)
			cl.Close()
			sv.Close()
		}()
	}
}

// fromServer copies responses whole (line and literals) so that an answer
// the filter makes itself never lands inside one.
func (f *quirkFilter) fromServer(cl io.Writer, sv io.Reader, wmu *sync.Mutex) {
	r := bufio.NewReader(sv)
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return
		}
		if f.noUIDNext && uidNextLine.Match(line) {
			continue
		}
		if f.noUnsel && capabilityTok.Match(line) {
			line = unselectTok.ReplaceAll(line, nil)
		}
		wmu.Lock()
		_, err = cl.Write(line)
		for n, ok := literalSize(line); ok && err == nil; n, ok = literalSize(line) {
			if _, err = io.CopyN(cl, r, n); err != nil {
				break
			}
			if line, err = r.ReadBytes('\n'); err == nil {
				_, err = cl.Write(line)
			}
		}
		wmu.Unlock()
		if err != nil {
			return
		}
	}
}

// fromClient forwards commands, answering UNSELECT itself when the server
// is to lack it, as Courier does.
func (f *quirkFilter) fromClient(cl net.Conn, sv io.Writer, wmu *sync.Mutex) {
	r := bufio.NewReader(cl)
	continuation := false
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return
		}
		if name, ok := commandName(line); ok && !continuation && f.noUnsel && name == "UNSELECT" {
			tag := line[:bytes.IndexByte(line, ' ')]
			wmu.Lock()
			_, err = fmt.Fprintf(cl, "%s NO Error in IMAP command received by server.\r\n", tag)
			wmu.Unlock()
			if err != nil {
				return
			}
			continue
		}
		if _, err := sv.Write(line); err != nil {
			return
		}
		n, ok := literalSize(line)
		continuation = ok
		if ok {
			if _, err := io.CopyN(sv, r, n); err != nil {
				return
			}
		}
	}
}

func (f *quirkFilter) close() {
	f.ln.Close()
	f.mu.Lock()
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}
