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
}
