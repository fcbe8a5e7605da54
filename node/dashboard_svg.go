package node

import (
	"fmt"
	"math"
	"strings"

	"github.com/charta/charta/ledger"
	"github.com/charta/charta/node/api"
)

// graphSVG is the geometry of a node-and-edge drawing, laid out on the
// server so that the page needs no script to show it.
type graphSVG struct {
	Width, Height int
	Nodes         []svgNode
	Edges         []svgEdge
}

// svgNode is a labelled box or circle.
type svgNode struct {
	ID     string
	Label  string
	Sub    string
	X, Y   float64 // centre
	Left   float64 // X - W/2
	Top    float64 // Y - H/2
	W, H   float64
	Href   string
	LabelY float64
	SubY   float64
}

// svgEdge is a path between two nodes.
type svgEdge struct {
	ID       string // the grant, for grant edges
	From, To string
	D        string // the path
	Class    string
	Label    string
	LX, LY   float64 // where the label goes
	Title    string
	Href     string
}

// bar is a horizontal bar of used, held and the rest of a total, in
// percent of the bar's width.
type bar struct {
	Used, Held, Free int64 // widths in percent; they sum to 100 (or 0 without a total)
	HeldX            int64 // where the held part starts
}

func newBar(used, held, total int64) bar {
	if total <= 0 {
		return bar{}
	}
	u := pct(used, total)
	h := min(pct(held, total), 100-u)
	return bar{Used: u, Held: h, Free: 100 - u - h, HeldX: u}
}

// lineageGraph lays the assets out in columns by derivation depth, parents
// to the left of what derives from them.
func lineageGraph(as []*ledger.Asset) graphSVG {
	byID := map[string]*ledger.Asset{}
	for _, a := range as {
		byID[a.ID] = a
	}
	depth := map[string]int{}
	var depthOf func(id string, seen map[string]bool) int
	depthOf = func(id string, seen map[string]bool) int {
		if d, ok := depth[id]; ok {
			return d
		}
		a, ok := byID[id]
		if !ok || seen[id] {
			return 0
		}
		seen[id] = true
		d := 0
		for _, p := range a.Parents {
			d = max(d, depthOf(p.Asset, seen)+1)
		}
		depth[id] = d
		return d
	}
	cols := map[int][]*ledger.Asset{}
	maxDepth, maxRows := 0, 0
	for _, a := range as {
		d := depthOf(a.ID, map[string]bool{})
		cols[d] = append(cols[d], a)
		maxDepth = max(maxDepth, d)
		maxRows = max(maxRows, len(cols[d]))
	}
	const colW, rowH, boxW, boxH = 200.0, 64.0, 150.0, 44.0
	g := graphSVG{Width: int(colW*float64(maxDepth+1)) + 20, Height: int(rowH*float64(max(maxRows, 1))) + 20}
	pos := map[string]svgNode{}
	for d := 0; d <= maxDepth; d++ {
		for i, a := range cols[d] {
			n := svgNode{ID: a.ID, Label: a.ID, Sub: string(a.Kind), X: 20 + colW*float64(d) + boxW/2, Y: 10 + rowH*float64(i) + rowH/2, W: boxW, H: boxH}
			n.LabelY, n.SubY = n.Y-3, n.Y+14
			n.Left, n.Top = n.X-n.W/2, n.Y-n.H/2
			pos[a.ID] = n
			g.Nodes = append(g.Nodes, n)
		}
	}
	for _, a := range as {
		for _, p := range a.Parents {
			from, ok1 := pos[p.Asset]
			to, ok2 := pos[a.ID]
			if !ok1 || !ok2 {
				continue
			}
			x1, y1 := from.X+from.W/2, from.Y
			x2, y2 := to.X-to.W/2-6, to.Y
			mx := (x1 + x2) / 2
			g.Edges = append(g.Edges, svgEdge{From: p.Asset, To: a.ID, Class: "lineage",
				D:     fmt.Sprintf("M%.1f,%.1f C%.1f,%.1f %.1f,%.1f %.1f,%.1f", x1, y1, mx, y1, mx, y2, x2, y2),
				Title: a.ID + " derives from " + p.Asset})
		}
	}
	return g
}

// grantGraph places the members on a circle and draws one curved arrow
// per grant from each licensor to each licensee, coloured by status. The
// label of a confidential grant's arrow says so in words.
func grantGraph(members []string, gs []*api.Grant) graphSVG {
	const w, h, r = 640.0, 460.0, 170.0
	g := graphSVG{Width: int(w), Height: int(h)}
	pos := map[string][2]float64{}
	for i, m := range members {
		a := -math.Pi/2 + 2*math.Pi*float64(i)/float64(max(len(members), 1))
		x, y := w/2+r*math.Cos(a), h/2+r*math.Sin(a)
		pos[m] = [2]float64{x, y}
		g.Nodes = append(g.Nodes, svgNode{ID: m, Label: m, X: x, Y: y, W: 64, H: 64, LabelY: y + 5})
	}
	type pair struct{ a, b string }
	count := map[pair]int{}
	for _, gr := range gs {
		for _, from := range gr.Licensors {
			for _, to := range gr.Licensees {
				count[pair{from, to}]++
			}
		}
	}
	seen := map[pair]int{}
	for _, gr := range gs {
		for _, from := range gr.Licensors {
			for _, to := range gr.Licensees {
				p1, ok1 := pos[from]
				p2, ok2 := pos[to]
				if !ok1 || !ok2 || from == to {
					continue
				}
				k := pair{from, to}
				i := seen[k]
				seen[k]++
				// Arrows between the same pair fan out; the two directions
				// bend to opposite sides.
				off := 34.0 + 56.0*float64(i)
				dx, dy := p2[0]-p1[0], p2[1]-p1[1]
				l := math.Hypot(dx, dy)
				ux, uy := dx/l, dy/l
				nx, ny := -uy, ux
				// Start and end at the circles' edges.
				sx, sy := p1[0]+ux*34, p1[1]+uy*34
				ex, ey := p2[0]-ux*40, p2[1]-uy*40
				cx, cy := (sx+ex)/2+nx*off, (sy+ey)/2+ny*off
				// Labels are horizontal text, so fanned arrows' labels also
				// step apart vertically, the way their arrows fan out: a long
				// label ("g-c (confidential)") does not cover its neighbour's.
				step := 14 * float64(i)
				if ny < 0 {
					step = -step
				}
				lx, ly := 0.25*sx+0.5*cx+0.25*ex+nx*8, 0.25*sy+0.5*cy+0.25*ey+ny*8+step
				st := string(gr.Status)
				label, note := gr.ID, ""
				if gr.Confidential != nil {
					label, note = gr.ID+" (confidential)", "; confidential terms"
				}
				g.Edges = append(g.Edges, svgEdge{
					ID: gr.ID, From: from, To: to, Class: "edge st-" + st,
					D:     fmt.Sprintf("M%.1f,%.1f Q%.1f,%.1f %.1f,%.1f", sx, sy, cx, cy, ex, ey),
					Label: label, LX: lx, LY: ly,
					Title: fmt.Sprintf("%s: %s licenses %s to %s (%s; %s%s)", gr.ID, from, strings.Join(gr.Terms.Assets, ", "), to, st, joinAny(gr.Terms.Rights), note),
					Href:  "/ui/grants/" + gr.ID,
				})
			}
		}
	}
	return g
}
