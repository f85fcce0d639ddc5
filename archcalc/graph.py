"""The network as a networkx DAG: one node per concrete layer plus the input node."""

from __future__ import annotations

import networkx as nx

from .errors import GraphError
from .spec import LayerNode, NetworkSpec

INPUT = "input"


def build_graph(spec: NetworkSpec) -> nx.DiGraph:
    """Nodes carry ``node`` (a LayerNode) and ``order`` (position in the spec); edges run from
    each input to its consumer. Rejects duplicate names, cycles and dangling layers."""
    graph = nx.DiGraph(name=spec.name)
    graph.add_node(INPUT, node=None, order=-1)
    for order, node in enumerate(spec.nodes):
        if node.name in graph:
            raise GraphError(f"two layers are both named '{node.name}'", where=node.where,
                             fix="rename one; dotted names must not collide with block members")
        graph.add_node(node.name, node=node, order=order)
    for node in spec.nodes:
        for source in node.inputs:
            graph.add_edge(source, node.name)
    _reject_cycles(graph)
    _reject_dangling(graph, spec)
    return graph


def _reject_cycles(graph: nx.DiGraph) -> None:
    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        return
    names = [edge[0] for edge in cycle] + [cycle[0][0]]
    first: LayerNode = graph.nodes[names[0]]["node"]
    raise GraphError(
        "the layers form a cycle: " + " → ".join(names),
        where=first.where,
        fix="a network is a DAG: make each layer's inputs come before it",
    )


def _reject_dangling(graph: nx.DiGraph, spec: NetworkSpec) -> None:
    outputs = set(spec.output_names)
    for name in graph.nodes:
        if name == INPUT or name in outputs or graph.out_degree(name):
            continue
        node: LayerNode = graph.nodes[name]["node"]
        raise GraphError(
            f"the output of '{name}' is never used",
            where=node.where,
            fix="feed it to a later layer (inputs: […]), or list it under `outputs:` "
                "if it is a network output",
        )


def topological_nodes(graph: nx.DiGraph) -> list[LayerNode]:
    """Layers in an order where inputs come first, ties broken by spec order."""
    order = nx.lexicographical_topological_sort(graph, key=lambda n: graph.nodes[n]["order"])
    return [graph.nodes[name]["node"] for name in order if name != INPUT]

