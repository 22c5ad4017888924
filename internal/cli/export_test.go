package cli

import (
	"flag"
	"io"
)

// CommandInfo is what the tests see of one entry of the command table.
type CommandInfo struct {
	Name     string
	Synopsis string
	// Flags are the command's own flags; Settings the flags of the settings it takes.
	Flags    []string
	Settings []string
}

// Commands lists the command table with each command's flags, as registered.
func Commands() []CommandInfo {
	var out []CommandInfo
	for _, c := range commands() {
		info := CommandInfo{Name: c.name, Synopsis: c.synopsis()}
		fs := flagSet(c, &invocation{stdout: io.Discard, stderr: io.Discard, getenv: func(string) string { return "" }})
		fs.VisitAll(func(f *flag.Flag) {
			if _, ok := f.Value.(*settingValue); ok {
				info.Settings = append(info.Settings, f.Name)
			} else {
				info.Flags = append(info.Flags, f.Name)
			}
		})
		out = append(out, info)
	}
	return out
}

// Usage is what `plugboard help` prints.
func Usage() string { return usage() }
