#!/usr/bin/env python3
"""Finds import cycles between the modules of a crate.

Reads the module graph `cargo modules dependencies` prints (modules only, `uses` edges
only: see scripts/module-cycles.sh) on standard input, and prints every cycle: each
strongly connected set of two or more modules, with the edges that tie it. Exits 1 if
there is one. (cargo-modules' own `--acyclic` checks the graph of every item, where any
type whose methods name it makes a cycle; modules are what we lay out.)
"""

import re
import sys

EDGE = re.compile(r'^\s*"([^"]+)" -> "([^"]+)" \[label="uses"')


def cycles(edges):
    """Tarjan's strongly connected components, iteratively; those of two or more nodes."""
    graph = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    index, low, on_stack, stack, found = {}, {}, set(), [], []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        top = stack.pop()
                        on_stack.discard(top)
                        component.append(top)
                        if top == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = counter
                counter += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def main():
    edges = [m.groups() for m in map(EDGE.match, sys.stdin) if m]
    found = cycles(edges)
    for component in found:
        members = set(component)
        print(f"cycle of {len(component)} modules:")
        for a, b in edges:
            if a in members and b in members:
                print(f"  {a} -> {b}")
    print(f"{len(edges)} edges, {len(found)} cycles")
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
