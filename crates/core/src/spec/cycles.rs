//! Cycles in the colony's `after` graph: every config on one is invalid,
//! with one problem naming the whole cycle (`after: web -> api -> web`).
//!
//! Tarjan's strongly connected components, iterative (a chain 1000 deep
//! must not overflow the stack), in time linear in names plus edges.

use std::collections::{HashMap, HashSet};
use std::fmt;

use super::Name;

/// A set of configs whose `after` lists lead back to themselves: a strongly
/// connected component of the `after` graph with a cycle in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AfterCycle {
    /// One cycle through the component, starting from its smallest name
    /// (the first name is not repeated at the end).
    pub path: Vec<Name>,
    /// Every name in the component, sorted: each is on some cycle, so each
    /// config is invalid. Usually the same names as `path`.
    pub members: Vec<Name>,
}

impl fmt::Display for AfterCycle {
    /// The problem every member's config gets: `after: web -> api -> web`,
    /// then the members off that path, if any.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("after: ")?;
        for name in &self.path {
            write!(f, "{name} -> ")?;
        }
        if let Some(first) = self.path.first() {
            write!(f, "{first}")?;
        }
        // A set: a ring of thousands is named in linear time.
        let on_path: HashSet<&Name> = self.path.iter().collect();
        let off: Vec<&str> = self
            .members
            .iter()
            .filter(|m| !on_path.contains(m))
            .map(Name::as_str)
            .collect();
        if !off.is_empty() {
            write!(f, " (and through {})", off.join(", "))?;
        }
        Ok(())
    }
}

/// The cycles among `specs` (each config's name and its `after` list),
/// sorted by their smallest name. Names listed but not among `specs` (not
/// configured, or invalid) are no part of any cycle. A name listing itself
/// is a cycle of one (the monitor refuses it earlier, with
/// [`super::check_after`]).
pub fn after_cycles<'a>(
    specs: impl IntoIterator<Item = (&'a Name, &'a [Name])>,
) -> Vec<AfterCycle> {
    let mut nodes: Vec<(&Name, &[Name])> = specs.into_iter().collect();
    nodes.sort_by(|a, b| a.0.cmp(b.0));
    nodes.dedup_by(|a, b| a.0 == b.0);
    let index: HashMap<&Name, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, (n, _))| (*n, i))
        .collect();
    let edges: Vec<Vec<usize>> = nodes
        .iter()
        .map(|(_, after)| after.iter().filter_map(|d| index.get(d).copied()).collect())
        .collect();
    let mut cycles: Vec<AfterCycle> = components(&edges)
        .into_iter()
        .filter(|c| c.len() > 1 || edges[c[0]].contains(&c[0]))
        .map(|mut comp| {
            comp.sort_unstable();
            let path = cycle_through(comp[0], &comp, &edges);
            AfterCycle {
                path: path.into_iter().map(|i| nodes[i].0.clone()).collect(),
                members: comp.into_iter().map(|i| nodes[i].0.clone()).collect(),
            }
        })
        .collect();
    cycles.sort_by(|a, b| a.members[0].cmp(&b.members[0]));
    cycles
}

/// The strongly connected components of the graph `edges` (node `i` points
/// at each of `edges[i]`), by Tarjan's algorithm with an explicit stack.
fn components(edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
    const UNSEEN: usize = usize::MAX;
    let n = edges.len();
    let mut order = vec![UNSEEN; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack: Vec<usize> = Vec::new();
    let mut out = Vec::new();
    let mut next = 0;
    // (node, index of its next edge to follow)
    let mut work: Vec<(usize, usize)> = Vec::new();
    for root in 0..n {
        if order[root] != UNSEEN {
            continue;
        }
        work.push((root, 0));
        while let Some(&mut (v, ref mut edge)) = work.last_mut() {
            if *edge == 0 && order[v] == UNSEEN {
                order[v] = next;
                low[v] = next;
                next += 1;
                stack.push(v);
                on_stack[v] = true;
            }
            if let Some(&w) = edges[v].get(*edge) {
                *edge += 1;
                if order[w] == UNSEEN {
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(order[w]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == order[v] {
                let mut comp = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    comp.push(w);
                    if w == v {
                        break;
                    }
                }
                out.push(comp);
            }
        }
    }
    out
}

/// One cycle from `start` back to it inside the component `comp` (sorted):
/// a depth-first search that stops at the first edge back to `start`. In a
/// strongly connected component there is one; each node is entered once.
fn cycle_through(start: usize, comp: &[usize], edges: &[Vec<usize>]) -> Vec<usize> {
    let inside = |w: usize| comp.binary_search(&w).is_ok();
    let mut visited = std::collections::HashSet::from([start]);
    let mut path: Vec<(usize, usize)> = vec![(start, 0)];
    while let Some(&mut (v, ref mut edge)) = path.last_mut() {
        let Some(&w) = edges[v].get(*edge) else {
            path.pop();
            continue;
        };
        *edge += 1;
        if w == start {
            return path.into_iter().map(|(v, _)| v).collect();
        }
        if inside(w) && visited.insert(w) {
            path.push((w, 0));
        }
    }
    // Not reached for a component with a cycle; the component itself is
    // still the honest answer.
    comp.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Name {
        Name::new(s).expect("valid name")
    }

    fn cycles(graph: &[(&str, &[&str])]) -> Vec<String> {
        let specs: Vec<(Name, Vec<Name>)> = graph
            .iter()
            .map(|(n, after)| (name(n), after.iter().map(|a| name(a)).collect()))
            .collect();
        after_cycles(specs.iter().map(|(n, a)| (n, a.as_slice())))
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn no_cycle_no_problem() {
        assert!(cycles(&[]).is_empty());
        assert!(cycles(&[("web", &["db", "cache"]), ("db", &[]), ("cache", &["db"])]).is_empty());
        // A name not configured is no part of a cycle.
        assert!(cycles(&[("web", &["ghost"])]).is_empty());
    }

    #[test]
    fn a_cycle_is_named_whole_from_its_smallest_name() {
        assert_eq!(
            cycles(&[("web", &["api"]), ("api", &["web"]), ("db", &[])]),
            ["after: api -> web -> api"]
        );
        assert_eq!(
            cycles(&[("c", &["a"]), ("a", &["b"]), ("b", &["c"]), ("d", &["a"])]),
            ["after: a -> b -> c -> a"]
        );
        assert_eq!(cycles(&[("web", &["web"])]), ["after: web -> web"]);
    }

    #[test]
    fn separate_cycles_are_separate_problems() {
        assert_eq!(
            cycles(&[("a", &["b"]), ("b", &["a"]), ("x", &["y"]), ("y", &["x"])]),
            ["after: a -> b -> a", "after: x -> y -> x"]
        );
    }

    #[test]
    fn a_tangle_names_its_members_off_the_path() {
        // a -> b -> a and a -> c -> a: one component, one problem.
        let found = cycles(&[("a", &["b", "c"]), ("b", &["a"]), ("c", &["a"])]);
        assert_eq!(found, ["after: a -> b -> a (and through c)"]);
    }

    #[test]
    fn deep_chains_are_linear_and_do_not_overflow() {
        let n = 5000;
        let names: Vec<Name> = (0..n).map(|i| name(&format!("p{i:05}"))).collect();
        // A chain: p1 after p0, p2 after p1, ...; then closed into a ring.
        let mut afters: Vec<Vec<Name>> = (0..n)
            .map(|i| {
                if i == 0 {
                    vec![]
                } else {
                    vec![names[i - 1].clone()]
                }
            })
            .collect();
        let run = |afters: &[Vec<Name>]| {
            after_cycles(names.iter().zip(afters).map(|(n, a)| (n, a.as_slice())))
        };
        assert!(run(&afters).is_empty());
        afters[0] = vec![names[n - 1].clone()];
        let ring = run(&afters);
        assert_eq!(ring.len(), 1);
        assert_eq!(ring[0].path.len(), n);
        assert_eq!(ring[0].members.len(), n);
        assert_eq!(ring[0].path[0], names[0]);
        assert_eq!(ring[0].path[1], names[n - 1]);
    }
}
