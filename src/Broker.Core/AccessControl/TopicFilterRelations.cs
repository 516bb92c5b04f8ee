namespace Broker.Core.AccessControl;

/// <summary>
/// How two topic filters relate as sets of topic names. Access control needs this for SUBSCRIBE, where the client
/// asks for a filter, not a topic: whether a rule's filter covers all of it, or touches any of it.
/// </summary>
/// <remarks>
/// Worked example. Rule <c>a/#</c>, request <c>a/+/b</c>: level 1 <c>a</c> = <c>a</c>; level 2 the rule has
/// <c>#</c>, which matches whatever the request has left, so the rule covers the request. Rule <c>a/+</c>, request
/// <c>a/#</c>: level 2 the request has <c>#</c> (it matches <c>a</c>, <c>a/x</c>, <c>a/x/y</c> ...) but the rule's
/// <c>+</c> matches exactly one level, so no cover; the two do overlap (<c>a/x</c>). A filter whose first level is a
/// wildcard matches no topic starting with <c>$</c> [MQTT-4.7.2-1], so <c>#</c> neither covers nor overlaps
/// <c>$SYS/#</c>. Both functions agree with <see cref="Broker.Protocol.MqttTopic.Matches"/> by construction and
/// are property-tested against it.
/// </remarks>
internal static class TopicFilterRelations
{
    /// <summary>Whether every topic <paramref name="inner"/> matches is also matched by <paramref name="outer"/>.</summary>
    public static bool Covers(ReadOnlySpan<char> outer, ReadOnlySpan<char> inner)
    {
        if (StartsWithWildcard(outer) && StartsWithDollar(inner))
            return false;
        while (true)
        {
            var o = NextLevel(ref outer, out var outerMore);
            var i = NextLevel(ref inner, out var innerMore);
            if (o is "#")
                return true;
            // "#" in the request matches any depth (and the parent); nothing but "#" in the rule matches all that.
            if (i is "#")
                return false;
            // A literal in the rule covers only the same literal; "+" covers a literal or "+".
            if (!(o is "+" || o.SequenceEqual(i)))
                return false;
            if (!outerMore && !innerMore)
                return true;
            if (!outerMore)
                return false;
            if (!innerMore)
                return outer is "#"; // "a/#" matches "a" itself (4.7.1.2)
        }
    }

    /// <summary>Whether some topic is matched by both <paramref name="a"/> and <paramref name="b"/>.</summary>
    public static bool Overlaps(ReadOnlySpan<char> a, ReadOnlySpan<char> b)
    {
        if ((StartsWithWildcard(a) && StartsWithDollar(b)) || (StartsWithWildcard(b) && StartsWithDollar(a)))
            return false;
        while (true)
        {
            var x = NextLevel(ref a, out var aMore);
            var y = NextLevel(ref b, out var bMore);
            if (x is "#" || y is "#")
                return true;
            if (!(x is "+" || y is "+" || x.SequenceEqual(y)))
                return false;
            if (!aMore && !bMore)
                return true;
            if (!aMore)
                return b is "#";
            if (!bMore)
                return a is "#";
        }
    }

    private static bool StartsWithWildcard(ReadOnlySpan<char> filter) => filter.Length > 0 && filter[0] is '+' or '#';

    private static bool StartsWithDollar(ReadOnlySpan<char> filter) => filter.Length > 0 && filter[0] == '$';

    private static ReadOnlySpan<char> NextLevel(ref ReadOnlySpan<char> rest, out bool more)
    {
        var slash = rest.IndexOf('/');
        if (slash < 0)
        {
            var last = rest;
            rest = default;
            more = false;
            return last;
        }
        var level = rest[..slash];
        rest = rest[(slash + 1)..];
        more = true;
        return level;
    }
}
