namespace Broker.Plugins.Retainer;

/// <summary>
/// The retained messages, one per topic, in a trie of topic levels, so a SUBSCRIBE visits only the branches its
/// filter can match instead of every retained topic.
/// </summary>
/// <remarks>
/// <para>A worked example. Retained: <c>a/b/c</c>, <c>a/x/c</c>, <c>a/b</c>, <c>$SYS/up</c>, <c>/z</c>. The trie:</para>
/// <code>
/// (root) ─ a ─ b* ─ c*
///        │   └ x ─ c*
///        ├ $SYS ─ up*
///        └ "" ─ z*          (* = holds a message; "/z" starts with an empty level)
/// </code>
/// <para>Filter <c>a/+/c</c>: at the root only child <c>a</c> is followed (a literal level is one dictionary lookup);
/// at <c>a</c> every child is followed (<c>+</c>); under each, only child <c>c</c>: two hits, <c>$SYS</c> and <c>""</c>
/// never visited. Filter <c>a/#</c>: follows <c>a</c>, then collects <c>a</c> itself (the parent level matches
/// <c>#</c>, MQTT-4.7.1-2) and its whole subtree. Filter <c>#</c> or <c>+/up</c>: at the root, children whose level
/// starts with <c>$</c> are skipped, since a filter starting with a wildcard does not match a topic starting with
/// <c>$</c> [MQTT-4.7.2-1]; <c>$SYS/#</c> names the level and matches.</para>
/// <para>Empty branches are pruned on delete, so the trie holds no more nodes than the retained topics' levels.</para>
/// <para>Not thread-safe: <see cref="RetainedStore"/> serialises access.</para>
/// </remarks>
internal sealed class RetainedIndex
{
    private readonly Node _root = new(null, "");

    /// <summary>The number of topics holding a message.</summary>
    public int Count { get; private set; }

    /// <summary>The message stored for exactly <paramref name="topic"/>, or null.</summary>
    public BrokerMessage? Get(string topic) => Find(topic)?.Message;

    /// <summary>Stores <paramref name="message"/> for <paramref name="topic"/>; true when the topic had none before.</summary>
    public bool Set(string topic, BrokerMessage message)
    {
        var node = _root;
        foreach (var range in topic.AsSpan().Split('/'))
        {
            var level = topic[range];
            node.Children ??= new Dictionary<string, Node>(StringComparer.Ordinal);
            if (!node.Children.TryGetValue(level, out var child))
            {
                child = new Node(node, level);
                node.Children.Add(level, child);
            }
            node = child;
        }
        var added = node.Message is null;
        node.Message = message;
        if (added)
            Count++;
        return added;
    }

    /// <summary>Removes the message of <paramref name="topic"/>; false when it had none.</summary>
    public bool Remove(string topic)
    {
        var node = Find(topic);
        if (node?.Message is null)
            return false;
        node.Message = null;
        Count--;
        // Prune the branch up to the first node still in use.
        while (node.Parent is { } parent && node.Message is null && (node.Children is null || node.Children.Count == 0))
        {
            parent.Children!.Remove(node.Level);
            node = parent;
        }
        return true;
    }

    /// <summary>Adds every message whose topic matches <paramref name="filter"/> (a valid filter, no share prefix) to <paramref name="into"/>.</summary>
    public void Match(string filter, List<BrokerMessage> into)
    {
        var levels = filter.Split('/');
        Match(_root, levels, 0, into);
    }

    /// <summary>Every stored message, in no particular order.</summary>
    public void CollectAll(List<BrokerMessage> into) => CollectSubtree(_root, into, skipDollar: false);

    private Node? Find(string topic)
    {
        var node = _root;
        foreach (var range in topic.AsSpan().Split('/'))
        {
            if (node.Children is null || !node.Children.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(topic.AsSpan()[range], out var child))
                return null;
            node = child;
        }
        return node;
    }

    private static void Match(Node node, string[] levels, int depth, List<BrokerMessage> into)
    {
        if (depth == levels.Length)
        {
            if (node.Message is { } message)
                into.Add(message);
            return;
        }
        var level = levels[depth];
        if (level == "#")
        {
            // "a/#" also matches "a" (MQTT-4.7.1-2); at the root "#" is the whole tree minus $-topics.
            if (depth > 0 && node.Message is { } parent)
                into.Add(parent);
            CollectChildren(node, into, skipDollar: depth == 0);
            return;
        }
        if (node.Children is null)
            return;
        if (level == "+")
        {
            foreach (var child in node.Children.Values)
            {
                if (depth == 0 && child.Level.StartsWith('$'))
                    continue;
                Match(child, levels, depth + 1, into);
            }
            return;
        }
        if (node.Children.TryGetValue(level, out var next))
            Match(next, levels, depth + 1, into);
    }

    private static void CollectSubtree(Node node, List<BrokerMessage> into, bool skipDollar)
    {
        if (node.Message is { } message)
            into.Add(message);
        CollectChildren(node, into, skipDollar);
    }

    private static void CollectChildren(Node node, List<BrokerMessage> into, bool skipDollar)
    {
        if (node.Children is null)
            return;
        foreach (var child in node.Children.Values)
        {
            if (skipDollar && child.Level.StartsWith('$'))
                continue;
            CollectSubtree(child, into, skipDollar: false);
        }
    }

    private sealed class Node(Node? parent, string level)
    {
        public Node? Parent { get; } = parent;

        public string Level { get; } = level;

        public Dictionary<string, Node>? Children { get; set; }

        public BrokerMessage? Message { get; set; }
    }
}
