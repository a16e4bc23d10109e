package main

import (
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/mattn/go-isatty"
)

// defaultWidth is the table's width when neither COLUMNS nor a terminal
// says.
const defaultWidth = 100

// termWidth is how wide the table printed to w may be: COLUMNS when set
// to a number, else the terminal's columns when w is one, else 100.
func termWidth(w io.Writer) int {
	if n, err := strconv.Atoi(strings.TrimSpace(os.Getenv("COLUMNS"))); err == nil && n > 0 {
		return n
	}
	if f, ok := w.(*os.File); ok && isTerminal(f) {
		if n := terminalColumns(f); n > 0 {
			return n
		}
	}
	return defaultWidth
}

// isTerminal says whether f is a terminal.
func isTerminal(f *os.File) bool {
	return isatty.IsTerminal(f.Fd())
}
