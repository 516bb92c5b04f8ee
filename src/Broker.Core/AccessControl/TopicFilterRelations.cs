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
        var depth = 0;
        var innerStartsEmpty = false;
        while (true)
        {
            var o = NextLevel(ref outer, out var outerMore);
            var i = NextLevel(ref inner, out var innerMore);
            if (o is "#")
                return true;
            if (i is "#")
            {
                // The request matches every deeper topic and also the parent ("a/#" matches "a"). A rule "+/#" here
                // matches every deeper topic but not the parent, so it covers only where no valid parent exists:
                // at the first level ("+/#" covers "#"), or where the parent is the empty, invalid topic ("/#").
                var parentInvalid = depth == 0 || (depth == 1 && innerStartsEmpty);
                return o is "+" && outerMore && outer is "#" && parentInvalid;
            }
            // A literal in the rule covers only the same literal; "+" covers a literal or "+".
            if (!(o is "+" || o.SequenceEqual(i)))
                return false;
            if (depth++ == 0)
                innerStartsEmpty = i.IsEmpty;
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
        var first = true;
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
            // One filter ends here, the other goes on with "/#": they share only the parent topic. After an empty
            // first level that is "", which is no valid topic ("+" and "/#" have nothing in common).
            var parentValid = !(first && (x.IsEmpty || y.IsEmpty));
            if (!aMore)
                return b is "#" && parentValid;
            if (!bMore)
                return a is "#" && parentValid;
            first = false;
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
