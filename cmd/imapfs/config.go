package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// The configuration file holds named accounts, so that
// `imapfs mount work ~/mail/work` needs no other argument:
//
//	[accounts.work]
//	url = "imaps://me%40example.org@imap.example.org"
//	password_command = "pass show mail/work"
//	read_only = true
//	cache_size = "512MiB"
//
// Every setting is spelt as the -o mount option of the same meaning; the
// command line overrides the file.

// defaultConfigPath is $XDG_CONFIG_HOME/imapfs/config.toml, or
// ~/.config/imapfs/config.toml when XDG_CONFIG_HOME is not set.
func defaultConfigPath() string {
	dir := os.Getenv("XDG_CONFIG_HOME")
	if dir == "" || !filepath.IsAbs(dir) {
		home, err := os.UserHomeDir()
		if err != nil {
			return filepath.Join(".config", "imapfs", "config.toml")
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "imapfs", "config.toml")
}

// accountSettings is one [accounts.NAME] table: -o option names to values
// as text, ready for flag.FlagSet.Set.
type accountSettings map[string]string

// loadAccount reads the account called name from the file at path.
func loadAccount(path, name string) (accountSettings, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no account %q: the configuration file %s does not exist (give a URL such as imaps://USER@HOST, or define [accounts.%s] there)", name, path, name)
		}
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	var file struct {
		Accounts map[string]map[string]any `toml:"accounts"`
	}
	md, err := toml.Decode(string(data), &file)
	if err != nil {
		return nil, fmt.Errorf("configuration file %s: %v", path, oneLine(err.Error()))
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		return nil, fmt.Errorf("configuration file %s: unknown setting %q (accounts are tables named [accounts.NAME])", path, undecoded[0].String())
	}
	raw, ok := file.Accounts[name]
	if !ok {
		var names []string
		for n := range file.Accounts {
			names = append(names, n)
		}
		sort.Strings(names)
		have := "it defines none"
		if len(names) > 0 {
			have = "it defines " + strings.Join(names, ", ")
		}
		return nil, fmt.Errorf("no account %q in %s (%s)", name, path, have)
	}
	settings := make(accountSettings)
	for key, v := range raw {
		k := strings.ReplaceAll(strings.ToLower(key), "-", "_")
		if k == "password" || k == "token" || k == "oauth_token" {
			return nil, fmt.Errorf("%s: account %q: a secret does not belong in the configuration file; use password_file, password_command or oauth_token_command", path, name)
		}
		if k != "url" && !configurable(k) {
			return nil, fmt.Errorf("%s: account %q: unknown setting %q", path, name, key)
		}
		s, err := settingText(k, v)
		if err != nil {
			return nil, fmt.Errorf("%s: account %q: %s: %v", path, name, key, err)
		}
		settings[k] = s
	}
	if settings["url"] == "" {
		return nil, fmt.Errorf("%s: account %q has no url (url = \"imaps://USER@HOST\")", path, name)
	}
	return settings, nil
}

// settingText turns a TOML value into the text the flag takes.
func settingText(key string, v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case bool:
		return strconv.FormatBool(v), nil
	case int64:
		if key == "umask" {
			// umask = 0o022 in TOML is the number 18; the flag reads octal.
			return strconv.FormatInt(v, 8), nil
		}
		return strconv.FormatInt(v, 10), nil
	default:
		return "", fmt.Errorf("want a string, a number or true/false, not %T", v)
	}
}

// isAccountName tells an account name (work, gmail-2) from a URL.
func isAccountName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

// oneLine folds a multi-line message into one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
