namespace Broker.Abstractions;

/// <summary>
/// MQTT's rules for topic names and filters (4.7, 4.8.2), for plugins and the broker alike: one implementation, so a
/// plugin validates and matches exactly as the router does.
/// </summary>
/// <remarks>Allocation-free except <see cref="TryParseShared"/>, which returns the parts as new strings.</remarks>
public static class Topics
{
    /// <summary>The prefix of an MQTT 5 shared subscription, <c>$share/{group}/{filter}</c> (4.8.2).</summary>
    public const string SharePrefix = "$share/";

    /// <summary>EMQX's shorthand for a shared subscription in the default group, <c>$queue/{filter}</c>.</summary>
    public const string QueuePrefix = "$queue/";

    /// <summary>The group name that <c>$queue/</c> subscriptions share.</summary>
    public const string QueueGroup = "$queue";

    /// <summary>A topic name: at least one character and no wildcard [MQTT-4.7.3-1], [MQTT-3.3.2-2].</summary>
    public static bool IsValidName(string topic) =>
        topic.Length > 0 && topic.AsSpan().IndexOfAny('+', '#') < 0;

    /// <summary>
    /// A topic filter: at least one character; <c>+</c> fills a whole level [MQTT-4.7.1-3]; <c>#</c> fills a whole
    /// level and is the last character [MQTT-4.7.1-2].
    /// </summary>
    public static bool IsValidFilter(ReadOnlySpan<char> filter)
    {
        if (filter.Length == 0)
            return false;
        for (var i = 0; i < filter.Length; i++)
        {
            var c = filter[i];
            if (c != '+' && c != '#')
                continue;
            var levelStart = i == 0 || filter[i - 1] == '/';
            var levelEnd = i == filter.Length - 1 || filter[i + 1] == '/';
            if (!levelStart || !levelEnd)
                return false;
            if (c == '#' && i != filter.Length - 1)
                return false;
        }
        return true;
    }

    /// <summary>Whether the filter contains <c>+</c> or <c>#</c>.</summary>
    public static bool HasWildcard(ReadOnlySpan<char> filter) => filter.IndexOfAny('+', '#') >= 0;

    /// <summary>
    /// The length of a well-formed <c>$share/{group}/</c> or <c>$queue/</c> prefix, so the filter after it can be
    /// looked at without allocating; 0 for an ordinary filter or a broken share syntax (see <see cref="TryParseShared"/>).
    /// </summary>
    public static int SharePrefixLength(string topicFilter)
    {
        if (topicFilter.StartsWith(QueuePrefix, StringComparison.Ordinal))
            return topicFilter.Length > QueuePrefix.Length ? QueuePrefix.Length : 0;
        if (!topicFilter.StartsWith(SharePrefix, StringComparison.Ordinal))
            return 0;
        var rest = topicFilter.AsSpan(SharePrefix.Length);
        var slash = rest.IndexOf('/');
        return slash <= 0 || slash == rest.Length - 1 || HasWildcard(rest[..slash]) ? 0 : SharePrefix.Length + slash + 1;
    }

    /// <summary>
    /// Splits <c>$share/{group}/{filter}</c> and <c>$queue/{filter}</c>. Returns false for an ordinary filter
    /// (then <paramref name="group"/> is null and <paramref name="filter"/> is the input). Returns true with a null
    /// group when the share syntax is broken: an empty or wildcard group name, or no filter [MQTT-4.8.2-1], [MQTT-4.8.2-2].
    /// </summary>
    public static bool TryParseShared(string topicFilter, out string? group, out string filter)
    {
        if (topicFilter.StartsWith(SharePrefix, StringComparison.Ordinal))
        {
            var rest = topicFilter.AsSpan(SharePrefix.Length);
            var slash = rest.IndexOf('/');
            if (slash <= 0 || slash == rest.Length - 1 || HasWildcard(rest[..slash]))
            {
                group = null;
                filter = "";
                return true;
            }
            group = rest[..slash].ToString();
            filter = rest[(slash + 1)..].ToString();
            return true;
        }
        if (topicFilter.StartsWith(QueuePrefix, StringComparison.Ordinal))
        {
            filter = topicFilter[QueuePrefix.Length..];
            group = filter.Length > 0 ? QueueGroup : null;
            return true;
        }
        group = null;
        filter = topicFilter;
        return false;
    }

    /// <summary>
    /// Whether <paramref name="filter"/> matches <paramref name="topic"/>. A filter starting with a wildcard does not
    /// match a topic starting with <c>$</c> [MQTT-4.7.2-1]. <c>sport/#</c> matches <c>sport</c> too (4.7.1.2).
    /// </summary>
    public static bool Matches(ReadOnlySpan<char> filter, ReadOnlySpan<char> topic)
    {
        if (topic.Length > 0 && topic[0] == '$' && filter.Length > 0 && (filter[0] == '+' || filter[0] == '#'))
            return false;
        while (true)
        {
            var fEnd = filter.IndexOf('/');
            var fLevel = fEnd < 0 ? filter : filter[..fEnd];
            if (fLevel.Length == 1 && fLevel[0] == '#')
                return true;
            var tEnd = topic.IndexOf('/');
            var tLevel = tEnd < 0 ? topic : topic[..tEnd];
            if (!(fLevel.Length == 1 && fLevel[0] == '+') && !fLevel.SequenceEqual(tLevel))
                return false;
            if (fEnd < 0 || tEnd < 0)
            {
                if (fEnd < 0 && tEnd < 0)
                    return true;
                // topic ended but the filter goes on: only "/#" may follow ("sport/#" matches "sport").
                return tEnd < 0 && filter[(fEnd + 1)..] is ['#'];
            }
            filter = filter[(fEnd + 1)..];
            topic = topic[(tEnd + 1)..];
        }
    }

    /// <summary>
    /// Whether every topic <paramref name="inner"/> matches is also matched by <paramref name="outer"/> (both topic
    /// filters). For access control on SUBSCRIBE, where a client asks for a filter: rule <c>a/#</c> covers request
    /// <c>a/+/b</c>; rule <c>a/+</c> does not cover <c>a/#</c> (which also matches <c>a/x/y</c>). A filter starting with
    /// a wildcard covers no filter starting with <c>$</c> [MQTT-4.7.2-1]. Agrees with <see cref="Matches"/>. Since SDK 2.1.
    /// </summary>
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

    /// <summary>
    /// Whether some topic is matched by both topic filters <paramref name="a"/> and <paramref name="b"/>: <c>a/+</c> and
    /// <c>a/#</c> overlap (<c>a/x</c>), <c>#</c> and <c>$SYS/#</c> do not [MQTT-4.7.2-1]. Since SDK 2.1.
    /// </summary>
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
