namespace Broker.Protocol;

/// <summary>
/// The topic rules of the SDK's <see cref="Topics"/> under the names the codec, router and access control use.
/// </summary>
public static class MqttTopic
{
    /// <inheritdoc cref="Topics.SharePrefix"/>
    public const string SharePrefix = Topics.SharePrefix;

    /// <inheritdoc cref="Topics.QueuePrefix"/>
    public const string QueuePrefix = Topics.QueuePrefix;

    /// <inheritdoc cref="Topics.QueueGroup"/>
    public const string QueueGroup = Topics.QueueGroup;

    /// <inheritdoc cref="Topics.IsValidName"/>
    public static bool IsValidTopicName(string topic) => Topics.IsValidName(topic);

    /// <inheritdoc cref="Topics.IsValidFilter"/>
    public static bool IsValidTopicFilter(ReadOnlySpan<char> filter) => Topics.IsValidFilter(filter);

    /// <inheritdoc cref="Topics.HasWildcard"/>
    public static bool HasWildcard(ReadOnlySpan<char> filter) => Topics.HasWildcard(filter);

    /// <inheritdoc cref="Topics.SharePrefixLength"/>
    public static int SharePrefixLength(string topicFilter) => Topics.SharePrefixLength(topicFilter);

    /// <inheritdoc cref="Topics.TryParseShared"/>
    public static bool TryParseShared(string topicFilter, out string? group, out string filter) =>
        Topics.TryParseShared(topicFilter, out group, out filter);

    /// <inheritdoc cref="Topics.Matches"/>
    public static bool Matches(ReadOnlySpan<char> filter, ReadOnlySpan<char> topic) => Topics.Matches(filter, topic);
}
