namespace Broker.Core.Routing;

/// <summary>
/// Which of a topic's subscriptions on this node a message forwarded by another node is for: the ordinary ones (the
/// sender saw this node's ordinary route) and/or the share groups the sender chose this node for. A share group on a
/// filter gets a message from one node in the cluster only, so a node must not serve a group nobody sent it for.
/// </summary>
/// <remarks>A message published on this node has no scope (null): every matching subscription on this node.</remarks>
public sealed class DeliveryScope
{
    /// <summary>Ordinary subscriptions only: what a forward without share groups is for.</summary>
    public static readonly DeliveryScope OrdinaryOnly = new(true, []);

    public DeliveryScope(bool ordinary, (string Group, string Filter)[] groups)
    {
        Ordinary = ordinary;
        Groups = groups;
    }

    /// <summary>Whether the ordinary subscriptions that match get it.</summary>
    public bool Ordinary { get; }

    /// <summary>The (share group, topic filter) pairs this node delivers it to one member of.</summary>
    public (string Group, string Filter)[] Groups { get; }

    /// <summary>
    /// After delivery on the receiving node: the (share group, filter) pairs of <see cref="Groups"/> this node had no
    /// member of any more (its last left while the message was on its way), so the sending node can choose another
    /// node for them; null when every named group was served.
    /// </summary>
    public (string Group, string Filter)[]? Unserved { get; private set; }

    /// <summary>Sets <see cref="Unserved"/> from this node's match: the named groups none of <paramref name="matches"/> was chosen from.</summary>
    internal void NoteUnserved<TSubscriber>(List<RouteMatch<TSubscriber>> matches)
        where TSubscriber : class, ISubscriber
    {
        List<(string Group, string Filter)>? unserved = null;
        foreach (var (group, filter) in Groups)
        {
            var served = false;
            // Share groups come last in a match.
            for (var i = matches.Count - 1; i >= 0 && matches[i].Group is { } chosen; i--)
            {
                if (string.Equals(chosen.Name, group, StringComparison.Ordinal) && string.Equals(chosen.Filter, filter, StringComparison.Ordinal))
                {
                    served = true;
                    break;
                }
            }
            if (!served)
                (unserved ??= []).Add((group, filter));
        }
        Unserved = unserved?.ToArray();
    }

    public bool Includes(string group, string filter)
    {
        foreach (var (g, f) in Groups)
        {
            if (string.Equals(g, group, StringComparison.Ordinal) && string.Equals(f, filter, StringComparison.Ordinal))
                return true;
        }
        return false;
    }
}
