package main

const (
	folder1k   = "bench1k"
	folder10k  = "bench10k"
	folder100k = "bench100k"
	bigFolder  = "big"
)

// bigPart is the large attachment's part number in the big folder's message.
var bigPart = []int{2}

func folderSpecs(quick bool) []FolderSpec {
	specs := []FolderSpec{{Name: folder1k, N: 1000, Mix: DefaultMix, Seed: 1}}
	if !quick {
		specs = append(specs,
			FolderSpec{Name: folder10k, N: 10000, Mix: DefaultMix, Seed: 10},
			FolderSpec{Name: folder100k, N: 100000, Mix: LeanMix, Seed: 100})
	}
	return specs
}

func latencies(quick bool) []int {
	if quick {
		return []int{0, 50}
	}
	return []int{0, 10, 50}
}

// planned is one cell of the matrix: measured, or skipped for a reason.
type planned struct {
	rtt    int
	op     string
	folder string
	mbsync bool
	skip   string
}

// plan chooses what is measured so that the whole run fits in about ten
// minutes on two cores: everything on the 1,000-message folder and the
// large attachment, listings of all sizes, and reading 10,000 messages at
// 0 ms only. Every cell left out is listed with its reason. The cells the
// acceptance criteria name come first, the long ones on 10,000 and
// 100,000 messages last, so that a slow mount spends the time budget on
// what matters most.
func plan(quick bool) []planned {
	var first, last []planned
	for _, rtt := range latencies(quick) {
		for _, op := range allOps {
			if op == opCp || op == opHead {
				first = append(first, planned{rtt: rtt, op: op, folder: bigFolder})
				continue
			}
			for _, f := range folderSpecs(quick) {
				p := planned{rtt: rtt, op: op, folder: f.Name, mbsync: op == opGrep}
				switch {
				case f.Name == folder100k && op == opLsL && rtt > 0:
					p.skip = "ls -l of 100,000 messages at 0 ms only (time budget)"
				case f.Name == folder100k && (op == opCat || op == opGrep):
					p.skip = "content of 100,000 messages not read (time budget)"
				case f.Name == folder10k && (op == opCat || op == opGrep) && rtt > 0:
					p.skip = "reading 10,000 messages at 0 ms only (time budget)"
				}
				if op == opLs || f.Name == folder1k {
					first = append(first, p)
				} else {
					last = append(last, p)
				}
			}
		}
	}
	return append(first, last...)
}
