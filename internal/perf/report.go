package perf

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Report is one run's figures with what a reader needs to judge them.
type Report struct {
	// Title heads the document, e.g. "Performance".
	Title string
	// Command is the command that regenerates the report.
	Command string
	// Date is when the run was made.
	Date time.Time
	// Machine is what it ran on.
	Machine Machine
	// Settings says what was run: counts, durations, connections.
	Settings string
	// Intro holds paragraphs shown before the table (how to read it).
	Intro []string
	// Figures are the table's rows, in order.
	Figures []Figure
	// Notes are shown after the table, one bullet each.
	Notes []string
}

// Missing reports whether f was not measured: its value is NaN or infinite.
func Missing(f Figure) bool { return math.IsNaN(f.Value) || math.IsInf(f.Value, 0) }

// Markdown renders r as a Markdown document.
func (r Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", r.Title)
	fmt.Fprintf(&b, "Measured %s on %s. Regenerate with:\n\n```sh\n%s\n```\n\n",
		r.Date.UTC().Format("2006-01-02 15:04 MST"), r.Machine, r.Command)
	if r.Settings != "" {
		fmt.Fprintf(&b, "Run: %s\n\n", r.Settings)
	}
	for _, p := range r.Intro {
		fmt.Fprintf(&b, "%s\n\n", p)
	}
	b.WriteString("| figure | mode | measured | ceiling or target | ratio | target | met | note |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, f := range r.Figures {
		cells := figureCells(f)
		cells = append(cells, f.Note)
		for i, c := range cells {
			cells[i] = strings.ReplaceAll(strings.ReplaceAll(c, "|", `\|`), "\n", " ")
		}
		fmt.Fprintf(&b, "| %s |\n", strings.Join(cells, " | "))
	}
	if len(r.Notes) > 0 {
		b.WriteString("\n## Notes\n\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	return b.String()
}

// Text renders r's figures as an aligned plain-text table, each figure's
// note listed after the table under the row's number.
func (r Report) Text() string {
	header := []string{"#", "figure", "mode", "measured", "ceiling or target", "ratio", "target", "met"}
	rows := [][]string{header}
	for i, f := range r.Figures {
		rows = append(rows, append([]string{strconv.Itoa(i + 1)}, figureCells(f)...))
	}
	width := make([]int, len(header))
	for _, row := range rows {
		for i, c := range row {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	var b strings.Builder
	for _, row := range rows {
		for i, c := range row {
			if i > 0 {
				b.WriteString("  ")
			}
			pad := strings.Repeat(" ", width[i]-len([]rune(c)))
			if i == 0 || i == 3 || i == 4 || i == 5 { // numbers align right
				b.WriteString(pad + c)
			} else if i < len(row)-1 {
				b.WriteString(c + pad)
			} else {
				b.WriteString(c)
			}
		}
		b.WriteString("\n")
	}
	for i, f := range r.Figures {
		if f.Note != "" {
			fmt.Fprintf(&b, "[%d] %s\n", i+1, f.Note)
		}
	}
	return b.String()
}

// figureCells are a figure's cells: name, mode, value, ceiling, ratio,
// target, met.
func figureCells(f Figure) []string {
	mode := f.Mode
	if mode == "" {
		mode = "—"
	}
	value, ceiling, ratio, met := "missing", "—", "—", "—"
	if !Missing(f) {
		value = Quantity(f.Value, f.Unit)
		switch {
		case math.IsNaN(f.Ceiling) || math.IsInf(f.Ceiling, 0):
			ceiling = "missing"
		case f.Ceiling != 0:
			ceiling = Quantity(f.Ceiling, f.Unit)
		}
		if !math.IsNaN(f.Ratio) && !math.IsInf(f.Ratio, 0) && (f.Ratio != 0 || f.Ceiling != 0) {
			ratio = Number(f.Ratio)
		}
	}
	switch {
	case f.Target == "":
	case Missing(f):
		met = "missing"
	case f.Met:
		met = "yes"
	default:
		met = "NO"
	}
	target := f.Target
	if target == "" {
		target = "—"
	}
	return []string{f.Name, mode, value, ceiling, ratio, target, met}
}

// Quantity is v in unit, e.g. "9,169 req/s", "14.4 ms".
func Quantity(v float64, unit string) string {
	if unit == "" {
		return Number(v)
	}
	return Number(v) + " " + unit
}

// Number formats v with three or more significant digits, grouping
// thousands: 12,345; 123; 12.3; 1.23; 0.012.
func Number(v float64) string {
	switch a := math.Abs(v); {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 0):
		return strconv.FormatFloat(v, 'f', -1, 64)
	case math.Round(a) >= 1000:
		return group(strconv.FormatFloat(math.Round(v), 'f', 0, 64))
	case a >= 100 || a == 0:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 0.1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'g', 2, 64)
	}
}

// group puts a comma between each group of three digits of an integer.
func group(s string) string {
	sign := ""
	if s[0] == '-' {
		sign, s = "-", s[1:]
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return sign + b.String()
}
