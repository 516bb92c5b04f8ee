// The topic trie: how one PUBLISH finds every wildcard filter that matches it.
//
// Filters without wildcards never enter the trie: the router keeps them in a dictionary keyed by the whole filter,
// so "a/b/c" costs one hash lookup however many exact filters exist. The trie holds only filters with '+' or '#',
// one node per filter level. Each node has
//   - literal children, keyed by the level's text (a dictionary read with a ReadOnlySpan<char> key, so matching
//     slices the topic without allocating a string per level);
//   - at most one '+' child (a field, not a dictionary entry: no lookup to find it);
//   - at most one '#' route (the route of "<path to here>/#": '#' is always the last level, so it needs no node);
//   - at most one route of the filter that ends exactly here.
//
// Worked example. Subscribed: "a/+/c", "a/#", "+/b/#", "#", "$SYS/+" (and the exact "a/b/c", in the dictionary).
//
//   root ── '#' route: "#"
//    ├─ "a" ── '#' route: "a/#"
//    │   └─ '+' ── "c" ── route: "a/+/c"
//    ├─ '+' ── "b" ── '#' route: "+/b/#"
//    └─ "$SYS" ── '+' ── route: "$SYS/+"
//
// Match "a/b/c": the dictionary yields "a/b/c". The walk keeps a stack of (node, offset of the next level):
//   (root, 0)  '#' route "#" matches anything: take it. Level "a": push (root/a, 2) and, for '+', (root/+, 2).
//   (root/+, 2)  no '#' route. Level "b": push (root/+/b, 4); no '+' child.
//   (root/+/b, 4)  '#' route "+/b/#": take it. Level "c": no literal child "c", no '+' child.
//   (root/a, 2)  '#' route "a/#": take it. Level "b": no literal "b"; '+' child: push (root/a/+, 4).
//   (root/a/+, 4)  Level "c": push (root/a/+/c, 6).
//   (root/a/+/c, 6)  6 > length 5, the topic is used up: take the node's own route "a/+/c".
// Result: "a/b/c", "#", "+/b/#", "a/#", "a/+/c". Every node is visited at most once per publish, so the cost is
// bounded by the number of trie nodes that can match, not by the number of filters.
//
// Two rules of MQTT shape the walk:
//   - "a/#" matches "a" too (4.7.1.2): the '#' route is taken on arriving at a node, before looking at whether any
//     topic is left, so the parent level matches.
//   - A filter starting with a wildcard does not match a topic starting with '$' [MQTT-4.7.2-1]: at the root, when
//     the topic starts with '$', neither the '#' route nor the '+' child is taken. "$SYS/+" above still matches
//     "$SYS/uptime" because its first level is literal. Shared filters obey the same rule: "$share/g/#" is stored
//     as "#".
//
// Concurrency: writers (Subscribe/Unsubscribe) are serialised by the router's lock. Readers take no lock: fields are
// published with volatile writes after the object they point to is complete, and children live in a
// ConcurrentDictionary, whose reads are lock-free. A reader that is walking a node while a writer prunes it just
// sees an empty node. Empty nodes are pruned bottom-up on unsubscribe, so memory follows the live filters.
// The walk uses an explicit stack (reused per thread) instead of recursion: a topic may have thousands of levels.
using System.Collections.Concurrent;

namespace Broker.Core.Routing;

/// <summary>The trie of topic filters that contain <c>+</c> or <c>#</c>. See the essay at the top of this file.</summary>
/// <typeparam name="TSubscriber">The session type.</typeparam>
internal sealed class TopicTrie<TSubscriber>
    where TSubscriber : class, ISubscriber
{
    private readonly TrieNode<TSubscriber> _root = new(null, "");

    /// <summary>Whether no filter is stored: a publish then skips the walk.</summary>
    public bool IsEmpty => _root.IsEmpty;

    /// <summary>Finds or creates the route of a wildcard filter. Caller holds the write lock.</summary>
    public Route<TSubscriber> GetOrCreateRoute(string filter, out bool created)
    {
        var node = _root;
        var rest = filter.AsSpan();
        while (true)
        {
            var slash = rest.IndexOf('/');
            var level = slash < 0 ? rest : rest[..slash];
            if (slash < 0 && level is "#")
            {
                created = node.HashRoute is null;
                return node.HashRoute ??= new Route<TSubscriber>(filter, node, isMultiLevel: true);
            }
            node = node.GetOrAddChild(level);
            if (slash < 0)
            {
                created = node.Route is null;
                return node.Route ??= new Route<TSubscriber>(filter, node, isMultiLevel: false);
            }
            rest = rest[(slash + 1)..];
        }
    }

    /// <summary>The route of a wildcard filter, or null; creates nothing. Caller holds the write lock.</summary>
    public Route<TSubscriber>? FindRoute(string filter)
    {
        var node = _root;
        var rest = filter.AsSpan();
        while (true)
        {
            var slash = rest.IndexOf('/');
            var level = slash < 0 ? rest : rest[..slash];
            if (slash < 0 && level is "#")
                return node.HashRoute;
            var child = level is "+" ? node.Plus : node.TryGetChild(level, out var named) ? named : null;
            if (child is null)
                return null;
            node = child;
            if (slash < 0)
                return node.Route;
            rest = rest[(slash + 1)..];
        }
    }

    /// <summary>Detaches an empty route and prunes the nodes left empty. Caller holds the write lock.</summary>
    public void RemoveRoute(Route<TSubscriber> route)
    {
        var node = route.Owner!;
        if (route.IsMultiLevel)
        {
            if (node.HashRoute == route)
                node.HashRoute = null;
        }
        else if (node.Route == route)
        {
            node.Route = null;
        }
        while (node.Parent is { } parent && node.IsEmpty)
        {
            parent.RemoveChild(node);
            node = parent;
        }
    }

    /// <summary>Nodes below the root; for diagnostics and tests (walks the whole trie). Caller holds the write lock.</summary>
    public int CountNodes() => _root.CountDescendants();

    /// <summary>Adds every route whose filter matches <paramref name="topic"/> to <paramref name="scratch"/>.</summary>
    public void Collect(string topic, MatchScratch<TSubscriber> scratch)
    {
        if (_root.IsEmpty)
            return;
        var dollar = topic.Length > 0 && topic[0] == '$';
        scratch.Push(_root, 0);
        while (scratch.TryPop(out var node, out var offset))
        {
            // Only the root is visited at offset 0; below it wildcards are always allowed.
            var wildcards = offset > 0 || !dollar;
            if (wildcards && node.HashRoute is { } multi)
                scratch.AddRoute(multi);
            if (offset > topic.Length)
            {
                if (node.Route is { } exact)
                    scratch.AddRoute(exact);
                continue;
            }
            var end = topic.IndexOf('/', offset);
            if (end < 0)
                end = topic.Length;
            var next = end + 1;
            if (node.TryGetChild(topic.AsSpan(offset, end - offset), out var child))
                scratch.Push(child, next);
            if (wildcards && node.Plus is { } plus)
                scratch.Push(plus, next);
        }
    }
}

/// <summary>One level of the trie.</summary>
/// <typeparam name="TSubscriber">The session type.</typeparam>
internal sealed class TrieNode<TSubscriber>
    where TSubscriber : class, ISubscriber
{
    private ConcurrentDictionary<string, TrieNode<TSubscriber>>? _children;
    private TrieNode<TSubscriber>? _plus;
    private Route<TSubscriber>? _route;
    private Route<TSubscriber>? _hashRoute;

    public TrieNode(TrieNode<TSubscriber>? parent, string level)
    {
        Parent = parent;
        Level = level;
    }

    /// <summary>Null for the root.</summary>
    public TrieNode<TSubscriber>? Parent { get; }

    /// <summary>This node's level text: a literal, or "+" for a parent's '+' child.</summary>
    public string Level { get; }

    public TrieNode<TSubscriber>? Plus => Volatile.Read(ref _plus);

    /// <summary>The route of the filter ending at this node.</summary>
    public Route<TSubscriber>? Route
    {
        get => Volatile.Read(ref _route);
        set => Volatile.Write(ref _route, value);
    }

    /// <summary>The route of the filter "{this node}/#".</summary>
    public Route<TSubscriber>? HashRoute
    {
        get => Volatile.Read(ref _hashRoute);
        set => Volatile.Write(ref _hashRoute, value);
    }

    public bool IsEmpty => Route is null && HashRoute is null && Plus is null && Volatile.Read(ref _children) is null;

    public bool TryGetChild(ReadOnlySpan<char> level, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out TrieNode<TSubscriber>? child)
    {
        var children = Volatile.Read(ref _children);
        if (children is null)
        {
            child = null;
            return false;
        }
        return children.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(level, out child);
    }

    /// <summary>Writers only.</summary>
    public TrieNode<TSubscriber> GetOrAddChild(ReadOnlySpan<char> level)
    {
        if (level is "+")
        {
            if (_plus is null)
                Volatile.Write(ref _plus, new TrieNode<TSubscriber>(this, "+"));
            return _plus!;
        }
        if (TryGetChild(level, out var existing))
            return existing;
        var child = new TrieNode<TSubscriber>(this, level.ToString());
        if (_children is null)
        {
            // Writers are serialised, so one lock stripe is enough; it keeps a node's dictionary small.
            var children = new ConcurrentDictionary<string, TrieNode<TSubscriber>>(
                concurrencyLevel: 1, capacity: 4, StringComparer.Ordinal);
            children.TryAdd(child.Level, child);
            Volatile.Write(ref _children, children);
        }
        else
        {
            _children.TryAdd(child.Level, child);
        }
        return child;
    }

    /// <summary>Writers only.</summary>
    public int CountDescendants()
    {
        var count = 0;
        if (_plus is not null)
            count += 1 + _plus.CountDescendants();
        if (_children is not null)
        {
            foreach (var child in _children.Values)
                count += 1 + child.CountDescendants();
        }
        return count;
    }

    /// <summary>Writers only.</summary>
    public void RemoveChild(TrieNode<TSubscriber> child)
    {
        if (_plus == child)
        {
            Volatile.Write(ref _plus, null);
            return;
        }
        var children = _children;
        if (children is null)
            return;
        children.TryRemove(new KeyValuePair<string, TrieNode<TSubscriber>>(child.Level, child));
        if (children.IsEmpty)
            Volatile.Write(ref _children, null);
    }
}
