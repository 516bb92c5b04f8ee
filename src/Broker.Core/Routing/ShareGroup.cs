namespace Broker.Core.Routing;

/// <summary>
/// The members of one share group on one topic filter, and the per-group state of the selection strategies.
/// Members are an immutable array replaced on change (copy-on-write): groups are small and change rarely
/// compared with how often they are read, and a plain array lets strategies index members directly.
/// </summary>
/// <typeparam name="TSubscriber">The session type.</typeparam>
internal sealed class ShareGroup<TSubscriber>
    where TSubscriber : class, ISubscriber
{
    private Subscription<TSubscriber>[] _members = [];
    private Subscription<TSubscriber>? _sticky;
    private int _cursor;

    public ShareGroup(string name, string filter)
    {
        Name = name;
        Filter = filter;
    }

    public string Name { get; }

    /// <summary>The topic filter of the route the group belongs to (share prefix removed).</summary>
    public string Filter { get; }

    public Subscription<TSubscriber>[] Members => Volatile.Read(ref _members);

    /// <summary>The member the Sticky strategy keeps choosing; cleared when that member leaves.</summary>
    public Subscription<TSubscriber>? Sticky
    {
        get => Volatile.Read(ref _sticky);
        set => Volatile.Write(ref _sticky, value);
    }

    /// <summary>The RoundRobin ticket: every delivery takes the next one.</summary>
    public uint TakeTicket() => (uint)Interlocked.Increment(ref _cursor) - 1;

    /// <summary>
    /// After skipping <paramref name="skipped"/> disconnected members for <paramref name="ticket"/>, moves the cursor
    /// past the chosen member so the next delivery does not land on it again. If another thread has taken a ticket
    /// in between, leave the cursor alone: rotation stays approximately fair and never blocks.
    /// </summary>
    public void SkipAfter(uint ticket, int skipped) =>
        Interlocked.CompareExchange(ref _cursor, (int)(ticket + 1 + (uint)skipped), (int)(ticket + 1));

    /// <summary>Writers only.</summary>
    public void Add(Subscription<TSubscriber> member)
    {
        var members = _members;
        var copy = new Subscription<TSubscriber>[members.Length + 1];
        members.CopyTo(copy, 0);
        copy[^1] = member;
        Volatile.Write(ref _members, copy);
    }

    /// <summary>Writers only. Keeps the member's position (and its stickiness) with the new options.</summary>
    public void Replace(Subscription<TSubscriber> old, Subscription<TSubscriber> replacement)
    {
        var copy = (Subscription<TSubscriber>[])_members.Clone();
        copy[Array.IndexOf(copy, old)] = replacement;
        Volatile.Write(ref _members, copy);
        Interlocked.CompareExchange(ref _sticky, replacement, old);
    }

    /// <summary>Writers only.</summary>
    public void Remove(Subscription<TSubscriber> member)
    {
        var members = _members;
        var index = Array.IndexOf(members, member);
        var copy = new Subscription<TSubscriber>[members.Length - 1];
        Array.Copy(members, 0, copy, 0, index);
        Array.Copy(members, index + 1, copy, index, members.Length - index - 1);
        Volatile.Write(ref _members, copy);
        Interlocked.CompareExchange(ref _sticky, null, member);
    }
}
