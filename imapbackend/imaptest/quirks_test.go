package imaptest

import (
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// TestMemoryQuirks: each variant lacks what it says, and only that.
func TestMemoryQuirks(t *testing.T) {
	t.Run("without UNSELECT", func(t *testing.T) {
		s := NewMemoryWith(t, MemoryOptions{Without: []imap.Cap{imap.CapUnselect}})
		if _, err := s.Append("INBOX", []byte("Subject: a\r\n\r\nb\r\n"), nil, time.Time{}); err != nil {
			t.Fatal(err)
		}
		c, err := s.Dial()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if c.Caps().Has(imap.CapUnselect) {
			t.Errorf("UNSELECT advertised: %v", c.Caps())
		}
		if !c.Caps().Has(imap.CapUIDPlus) {
			t.Errorf("UIDPLUS dropped too: %v", c.Caps())
		}
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		if err := c.Unselect().Wait(); err == nil {
			t.Error("UNSELECT accepted")
		}
		// The connection still works, and CLOSE does.
		if err := c.UnselectAndExpunge().Wait(); err != nil {
			t.Errorf("CLOSE: %v", err)
		}
	})
	t.Run("SELECT without UIDNEXT", func(t *testing.T) {
		s := NewMemoryWith(t, MemoryOptions{SelectWithoutUIDNext: true})
		c, err := s.Dial()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		data, err := c.Select("INBOX", nil).Wait()
		if err != nil {
			t.Fatal(err)
		}
		if data.UIDNext != 0 || data.UIDValidity == 0 {
			t.Errorf("SELECT gave UIDNEXT %d, UIDVALIDITY %d; want none and one", data.UIDNext, data.UIDValidity)
		}
		st, err := c.Status("INBOX", &imap.StatusOptions{UIDNext: true}).Wait()
		if err != nil || st.UIDNext == 0 {
			t.Errorf("STATUS UIDNEXT = %v, %v", st, err)
		}
	})
	t.Run("IDLE never pushes", func(t *testing.T) {
		s := NewMemoryWith(t, MemoryOptions{IdleNeverPushes: true})
		pushed := make(chan struct{}, 10)
		c, err := imapclient.DialInsecure(s.Addr, &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					pushed <- struct{}{}
				}
			},
		}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Login(s.Username, s.Password).Wait(); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		idle, err := c.Idle()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Append("INBOX", []byte("Subject: a\r\n\r\nb\r\n"), nil, time.Time{}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-pushed:
			t.Error("EXISTS pushed during IDLE")
		case <-time.After(300 * time.Millisecond):
		}
		if err := idle.Close(); err != nil {
			t.Fatal(err)
		}
		if err := idle.Wait(); err != nil {
			t.Fatal(err)
		}
		// The next command tells what IDLE kept quiet about.
		if err := c.Noop().Wait(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-pushed:
		case <-time.After(5 * time.Second):
			t.Error("EXISTS not told after IDLE ended")
		}
	})
}
