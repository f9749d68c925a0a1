package main

import (
	"flag"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
)

// TestEveryFlagHasMountOption checks that each flag of imapfs mount has an
// -o spelling (and configuration key) that sets it.
func TestEveryFlagHasMountOption(t *testing.T) {
	var mf mountFlags
	fs := newMountFlagSet("imapfs mount", io.Discard, &mf, false)
	n := 0
	fs.VisitAll(func(f *flag.Flag) {
		n++
		found := false
		for _, o := range mountOptions {
			if o.flag == f.Name {
				found = true
				if got, ok := optionFlag(o.option); !ok || got != f.Name {
					t.Errorf("-o %s sets %q, want --%s", o.option, got, f.Name)
				}
				if strings.Contains(o.option, "-") {
					t.Errorf("-o %s: mount options are spelt with underscores", o.option)
				}
			}
		}
		if !found {
			t.Errorf("--%s has no -o spelling", f.Name)
		}
	})
	if n != len(mountOptions) {
		t.Errorf("%d flags, %d mount options", n, len(mountOptions))
	}
}

func TestSplitOptions(t *testing.T) {
	for in, want := range map[string][]string{
		"ro":                                     {"ro"},
		"ro,password_file=/x":                    {"ro", "password_file=/x"},
		`password_command="pass show a,b",ro`:    {"password_command=pass show a,b", "ro"},
		`oauth_token_command="oama access x",rw`: {"oauth_token_command=oama access x", "rw"},
		"":                                       {""},
	} {
		if got := splitOptions(in); !reflect.DeepEqual(got, want) {
			t.Errorf("splitOptions(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestByteSizeString(t *testing.T) {
	for n, want := range map[int64]string{256 << 20: "256MiB", 1 << 30: "1GiB", 1536: "1536", 3 << 10: "3KiB", 0: "0", 1000: "1000"} {
		s := byteSize(n)
		if got := s.String(); got != want {
			t.Errorf("byteSize(%d) = %q, want %q", n, got, want)
		}
		var back byteSize
		if err := back.Set(want); err != nil || back != s {
			t.Errorf("Set(%q) = %d, %v; want %d", want, back, err, n)
		}
	}
}

func TestIsAccountName(t *testing.T) {
	for s, want := range map[string]bool{
		"work": true, "gmail-2": true, "me.example": true, "a_b": true,
		"imaps://u@h": false, "//u:p@h": false, "u@h": false, "": false, "h:993": false,
	} {
		if got := isAccountName(s); got != want {
			t.Errorf("isAccountName(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestUmaskValue(t *testing.T) {
	for in, want := range map[string]uint32{"022": 0o22, "0077": 0o77, "0o027": 0o27, "7": 0o7, "777": 0o777} {
		var v umaskValue
		if err := v.Set(in); err != nil || v.mask != want || !v.set {
			t.Errorf("umask %q = %o (%v), want %o", in, v.mask, err, want)
		}
	}
	for _, in := range []string{"999", "1000", "-1", "abc", ""} {
		var v umaskValue
		if err := v.Set(in); err == nil {
			t.Errorf("umask %q accepted as %o", in, v.mask)
		}
	}
}

func TestIDValue(t *testing.T) {
	u := idValue{}
	if err := u.Set("root"); err != nil || u.id != 0 {
		t.Errorf("uid root = %d, %v", u.id, err)
	}
	if err := u.Set("1234"); err != nil || u.id != 1234 {
		t.Errorf("uid 1234 = %d, %v", u.id, err)
	}
	g := idValue{group: true}
	if err := g.Set("root"); err != nil || g.id != 0 {
		t.Errorf("gid root = %d, %v", g.id, err)
	}
	if err := u.Set("no-such-user-xyz"); err == nil {
		t.Errorf("unknown user accepted")
	}
}

// TestManPageHasEveryOption keeps the man page in step with the flags.
func TestManPageHasEveryOption(t *testing.T) {
	page, err := os.ReadFile("imapfs.1.md")
	if err != nil {
		t.Fatal(err)
	}
	roff, err := os.ReadFile("imapfs.1")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range mountOptions {
		if !strings.Contains(string(page), "**--"+o.flag+"**") {
			t.Errorf("imapfs.1.md does not describe --%s", o.flag)
		}
		if o.flag != "daemon" && !strings.Contains(string(page), "**"+o.option) {
			t.Errorf("imapfs.1.md does not give the -o spelling %s", o.option)
		}
		if !strings.Contains(string(roff), `\fB--`+o.flag) {
			t.Errorf("imapfs.1 lacks --%s: run make man", o.flag)
		}
	}
}
