namespace Broker.Plugins.TopicRewrite;

/// <summary>
/// The topic rules of MQTT 4.7 this plugin needs. The SDK does not expose the broker's own (Broker.Protocol is not
/// shared with plugins), so these are kept to the same statements and tested against the same cases.
/// </summary>
internal static class Topics
{
    /// <summary>A topic name: at least one character, no wildcard [MQTT-4.7.3-1], [MQTT-3.3.2-2].</summary>
    public static bool IsValidTopicName(ReadOnlySpan<char> topic) => topic.Length > 0 && topic.IndexOfAny('+', '#') < 0;

    /// <summary>
    /// A topic filter: at least one character; <c>+</c> fills a whole level [MQTT-4.7.1-3]; <c>#</c> fills a whole
    /// level and is the last character [MQTT-4.7.1-2].
    /// </summary>
    public static bool IsValidTopicFilter(ReadOnlySpan<char> filter)
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
            if (!levelStart || !levelEnd || (c == '#' && i != filter.Length - 1))
                return false;
        }
        return true;
    }

    /// <summary>
    /// Whether <paramref name="filter"/> matches <paramref name="topic"/>, which may itself be a filter (a SUBSCRIBE's):
    /// then its wildcards are compared as plain characters, as EMQX's <c>emqx_topic:match/2</c> does. A filter
    /// starting with a wildcard does not match a topic starting with <c>$</c> [MQTT-4.7.2-1]; <c>a/#</c> matches
    /// <c>a</c> (4.7.1.2). Allocates nothing.
    /// </summary>
    public static bool Matches(ReadOnlySpan<char> filter, ReadOnlySpan<char> topic)
    {
        if (topic.Length > 0 && topic[0] == '$' && filter.Length > 0 && (filter[0] == '+' || filter[0] == '#'))
            return false;
        while (true)
        {
            var fEnd = filter.IndexOf('/');
            var fLevel = fEnd < 0 ? filter : filter[..fEnd];
            if (fLevel is ['#'])
                return true;
            var tEnd = topic.IndexOf('/');
            var tLevel = tEnd < 0 ? topic : topic[..tEnd];
            if (fLevel is not ['+'] && !fLevel.SequenceEqual(tLevel))
                return false;
            if (fEnd < 0 || tEnd < 0)
            {
                if (fEnd < 0 && tEnd < 0)
                    return true;
                return tEnd < 0 && filter[(fEnd + 1)..] is ['#'];
            }
            filter = filter[(fEnd + 1)..];
            topic = topic[(tEnd + 1)..];
        }
    }

    /// <summary>
    /// The length of a <c>$share/{group}/</c> or <c>$queue/</c> prefix of a SUBSCRIBE/UNSUBSCRIBE filter (4.8.2), so
    /// rules see and rewrite only the filter after it; 0 when there is none or the share syntax is broken (the
    /// broker refuses those itself).
    /// </summary>
    public static int SharePrefixLength(string filter)
    {
        const string share = "$share/", queue = "$queue/";
        if (filter.StartsWith(queue, StringComparison.Ordinal))
            return queue.Length;
        if (!filter.StartsWith(share, StringComparison.Ordinal))
            return 0;
        var slash = filter.IndexOf('/', share.Length);
        return slash > share.Length ? slash + 1 : 0;
    }
}
