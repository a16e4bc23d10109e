//go:build !unix

package main

import "os"

// terminalColumns is the width of the terminal f, 0 when unknown.
func terminalColumns(*os.File) int { return 0 }
