//! Checks over the dependency graph: no dependency on a later tier, no cycles. Reports each
//! cycle once with every member in order.

use super::{ServiceRefs, Validator, cycle_text};
use crate::runbook::diag::Diag;
use crate::runbook::model::Service;

pub(super) fn check(v: &mut Validator<'_>, services: &[Service], refs: &[ServiceRefs]) {
    for (i, r) in refs.iter().enumerate() {
        let s = &services[i];
        for (j, span) in &r.deps {
            let d = &services[*j];
            if d.tier > s.tier {
                v.error(
                    Diag::new(
                        span.clone(),
                        format!(
                            "service '{}' (tier {}) depends on '{}' of a later tier ({})",
                            s.id, s.tier, d.id, d.tier
                        ),
                    )
                    .help(format!(
                        "tiers restore in ascending order: move '{}' to tier {} or lower, or '{}' to tier {} or higher",
                        d.id, s.tier, s.id, d.tier
                    )),
                );
            }
        }
    }
    let edges: Vec<Vec<usize>> = refs
        .iter()
        .map(|r| r.deps.iter().map(|(j, _)| *j).collect())
        .collect();
    for component in strongly_connected(&edges) {
        if component.len() < 2 {
            continue; // self-dependencies are reported where they are read
        }
        let cycle = cycle_within(&edges, &component);
        let first = cycle[0];
        let mut diag = Diag::new(
            refs[first].id_span.clone(),
            format!(
                "dependency cycle: {}",
                cycle_text(cycle.iter().map(|&i| services[i].id.as_str()))
            ),
        );
        let others: Vec<String> = component
            .iter()
            .filter(|i| !cycle.contains(i))
            .map(|&i| format!("'{}'", services[i].id))
            .collect();
        diag = if others.is_empty() {
            diag.help("remove one of these dependencies so the services can restore in order")
        } else {
            diag.help(format!(
                "also caught in this knot: {}; remove dependencies until no service waits on itself",
                others.join(", ")
            ))
        };
        v.error(diag);
    }
}

/// Tarjan's algorithm, iterative so a long chain cannot exhaust the stack. Components come out
/// with members in ascending index (file order).
pub(crate) fn strongly_connected(edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let n = edges.len();
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut next = 0;
    let mut out = Vec::new();
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        let mut work: Vec<(usize, usize)> = vec![(root, 0)];
        while let Some(&mut (node, ref mut edge)) = work.last_mut() {
            if *edge == 0 && index[node] == usize::MAX {
                index[node] = next;
                low[node] = next;
                next += 1;
                stack.push(node);
                on_stack[node] = true;
            }
            if let Some(&to) = edges[node].get(*edge) {
                *edge += 1;
                if index[to] == usize::MAX {
                    work.push((to, 0));
                } else if on_stack[to] {
                    low[node] = low[node].min(index[to]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[node]);
            }
            if low[node] == index[node] {
                let mut component = Vec::new();
                while let Some(m) = stack.pop() {
                    on_stack[m] = false;
                    component.push(m);
                    if m == node {
                        break;
                    }
                }
                component.sort_unstable();
                out.push(component);
            }
        }
    }
    out.sort_by_key(|c| c[0]);
    out
}

/// A simple cycle through the component's first member, found by breadth-first search so the
/// cycle printed is a shortest one.
fn cycle_within(edges: &[Vec<usize>], component: &[usize]) -> Vec<usize> {
    let start = component[0];
    let mut parent: std::collections::HashMap<usize, usize> = std::collections::HashMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        for &to in &edges[node] {
            if component.binary_search(&to).is_err() {
                continue;
            }
            if to == start {
                let mut cycle = vec![node];
                let mut at = node;
                while at != start {
                    at = parent[&at];
                    cycle.push(at);
                }
                cycle.reverse();
                return cycle;
            }
            if let std::collections::hash_map::Entry::Vacant(e) = parent.entry(to) {
                e.insert(node);
                queue.push_back(to);
            }
        }
    }
    component.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_cycle_as_one_component() {
        // 0 → 1 → 2 → 0, 3 → 3's neighbour 4 → 3, 5 alone.
        let edges = vec![vec![1], vec![2], vec![0], vec![4], vec![3], vec![0]];
        let comps: Vec<_> = strongly_connected(&edges)
            .into_iter()
            .filter(|c| c.len() > 1)
            .collect();
        assert_eq!(comps, vec![vec![0, 1, 2], vec![3, 4]]);
    }

    #[test]
    fn cycle_follows_the_dependency_edges_in_order() {
        // a(0) depends on c(2), c on b(1), b on a.
        let edges = vec![vec![2], vec![0], vec![1]];
        assert_eq!(cycle_within(&edges, &[0, 1, 2]), vec![0, 2, 1]);
    }

    #[test]
    fn a_long_chain_does_not_overflow_the_stack() {
        let n = 200_000;
        let edges: Vec<Vec<usize>> = (0..n)
            .map(|i| if i + 1 < n { vec![i + 1] } else { vec![0] })
            .collect();
        let comps = strongly_connected(&edges);
        assert_eq!(comps.len(), 1);
        assert_eq!(comps[0].len(), n);
    }
}
