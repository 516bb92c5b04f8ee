namespace Broker.Plugins.AutoSubscribe;

/// <summary>
/// The topic filter rules of MQTT 4.7 and 4.8.2 this plugin checks its configuration with. The SDK does not expose the
/// broker's own (Broker.Protocol is not shared with plugins); these follow the same statements.
/// </summary>
internal static class Topics
{
    private const string Share = "$share/", Queue = "$queue/";

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

    /// <summary>Whether <paramref name="filter"/> is <c>$share/{group}/...</c> or <c>$queue/...</c>.</summary>
    public static bool IsShared(string filter) =>
        filter.StartsWith(Share, StringComparison.Ordinal) || filter.StartsWith(Queue, StringComparison.Ordinal);

    /// <summary>
    /// What a SUBSCRIBE may carry: a valid filter, or a shared one whose group is non-empty without wildcards or
    /// <c>/</c> and whose filter is valid [MQTT-4.8.2-1], [MQTT-4.8.2-2].
    /// </summary>
    public static bool IsValidSubscription(string filter)
    {
        if (filter.StartsWith(Queue, StringComparison.Ordinal))
            return IsValidTopicFilter(filter.AsSpan(Queue.Length));
        if (!filter.StartsWith(Share, StringComparison.Ordinal))
            return IsValidTopicFilter(filter);
        var rest = filter.AsSpan(Share.Length);
        var slash = rest.IndexOf('/');
        return slash > 0 && rest[..slash].IndexOfAny('+', '#') < 0 && IsValidTopicFilter(rest[(slash + 1)..]);
    }
}
