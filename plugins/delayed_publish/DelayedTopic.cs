namespace Broker.Plugins.DelayedPublish;

/// <summary>What <see cref="DelayedTopic.Parse"/> made of a topic.</summary>
internal enum DelayedTopicResult
{
    /// <summary>Not a <c>$delayed/</c> topic: none of this plugin's business.</summary>
    NotDelayed,

    /// <summary>A well-formed request: publish to the target after the delay.</summary>
    Valid,

    /// <summary>A <c>$delayed/</c> topic that does not say a delay and a valid target topic name.</summary>
    Malformed,

    /// <summary>Well-formed, but the delay is above <c>max_delay</c>.</summary>
    TooLong,
}

/// <summary>
/// <c>$delayed/&lt;seconds&gt;/&lt;topic&gt;</c>, as EMQX reads it: the delay is one or more ASCII digits (no sign, no
/// spaces, no fraction; leading zeros allowed), the target is the rest and must be a topic name a client could
/// publish to: not empty, no <c>+</c> or <c>#</c> [MQTT-3.3.2-2], no NUL [MQTT-4.7.3-2], and not a <c>$</c> topic
/// (those belong to the broker and its plugins; [MQTT-4.7.2-1] makes them a separate name space).
/// </summary>
internal static class DelayedTopic
{
    /// <summary>The prefix that marks a delayed publish.</summary>
    public const string Prefix = "$delayed/";

    public static DelayedTopicResult Parse(string topic, long maxDelaySeconds, out long delaySeconds, out string target)
    {
        delaySeconds = 0;
        target = "";
        if (!topic.StartsWith(Prefix, StringComparison.Ordinal))
            return DelayedTopicResult.NotDelayed;
        var rest = topic.AsSpan(Prefix.Length);
        var slash = rest.IndexOf('/');
        if (slash <= 0)
            return DelayedTopicResult.Malformed;
        var digits = rest[..slash];
        var tooLong = false;
        foreach (var c in digits)
        {
            if (!char.IsAsciiDigit(c))
                return DelayedTopicResult.Malformed;
            // Saturate instead of overflowing: any number above the limit is "too long", however many digits.
            if (!tooLong)
            {
                delaySeconds = delaySeconds * 10 + (c - '0');
                tooLong = delaySeconds > maxDelaySeconds;
            }
        }
        var name = rest[(slash + 1)..];
        if (name.Length == 0 || name[0] == '$' || name.IndexOfAny('+', '#', '\0') >= 0)
            return DelayedTopicResult.Malformed;
        if (tooLong)
            return DelayedTopicResult.TooLong;
        target = name.ToString();
        return DelayedTopicResult.Valid;
    }
}
