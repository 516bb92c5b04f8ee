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
