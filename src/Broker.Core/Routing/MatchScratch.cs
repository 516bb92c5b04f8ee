namespace Broker.Core.Routing;

/// <summary>
/// Per-thread working memory of <see cref="Router{TSubscriber}.Match"/>: the matched routes, the trie walk's stack
/// and the aggregation index. Reused across calls so a publish allocates nothing once a thread has warmed up.
/// </summary>
/// <typeparam name="TSubscriber">The session type.</typeparam>
internal sealed class MatchScratch<TSubscriber>
    where TSubscriber : class, ISubscriber
{
    /// <summary>An index that grew past this many subscribers is dropped instead of cleared, so one huge fan-out
    /// does not make every later Clear() pay for its capacity.</summary>
    private const int MaxRetainedIndexSize = 1024;

    private Route<TSubscriber>[] _routes = new Route<TSubscriber>[8];
    private (TrieNode<TSubscriber> Node, int Offset)[] _stack = new (TrieNode<TSubscriber>, int)[16];
    private int _stackCount;
    private Dictionary<TSubscriber, int>? _index;

    public int RouteCount { get; private set; }

    public Route<TSubscriber>[] Routes => _routes;

    public void AddRoute(Route<TSubscriber> route)
    {
        if (RouteCount == _routes.Length)
            Array.Resize(ref _routes, _routes.Length * 2);
        _routes[RouteCount++] = route;
    }

    public void Push(TrieNode<TSubscriber> node, int offset)
    {
        if (_stackCount == _stack.Length)
            Array.Resize(ref _stack, _stack.Length * 2);
        _stack[_stackCount++] = (node, offset);
    }

    public bool TryPop([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out TrieNode<TSubscriber>? node, out int offset)
    {
        if (_stackCount == 0)
        {
            node = null;
            offset = 0;
            return false;
        }
        (node, offset) = _stack[--_stackCount];
        _stack[_stackCount] = default;
        return true;
    }

    /// <summary>Subscriber → index in the results list, for aggregation over many candidates.</summary>
    public Dictionary<TSubscriber, int> Index =>
        _index ??= new Dictionary<TSubscriber, int>(ReferenceEqualityComparer.Instance);

    /// <summary>Forgets the routes (so they can be collected) and the index.</summary>
    public void Reset()
    {
        Array.Clear(_routes, 0, RouteCount);
        RouteCount = 0;
        if (_stackCount > 0)
        {
            Array.Clear(_stack, 0, _stackCount);
            _stackCount = 0;
        }
        if (_index is { Count: > 0 })
        {
            if (_index.Count > MaxRetainedIndexSize)
                _index = null;
            else
                _index.Clear();
        }
    }
}
