namespace Broker.Configuration;

/// <summary>One problem found in the configuration, with enough context to find and fix it.</summary>
public sealed class ConfigurationError
{
    /// <summary>Describes one problem.</summary>
    /// <param name="origin">Where the value was set; null when the key kept its default.</param>
    /// <param name="key">The dotted key; null for a line that has no valid key.</param>
    /// <param name="value">The value as written; null when the problem is not about a value.</param>
    /// <param name="problem">What is wrong and what is expected, e.g. "expected a size such as 64KB or 1MB".</param>
    public ConfigurationError(ConfOrigin? origin, string? key, string? value, string problem)
    {
        Origin = origin;
        Key = key;
        Value = value;
        Problem = problem;
    }

    /// <summary>Where the value was set; null when the key kept its default.</summary>
    public ConfOrigin? Origin { get; }

    /// <summary>The dotted key, if the problem has one.</summary>
    public string? Key { get; }

    /// <summary>The value as written, if the problem is about a value.</summary>
    public string? Value { get; }

    /// <summary>What is wrong and what is expected.</summary>
    public string Problem { get; }

    /// <summary>
    /// <c>etc/broker.conf:42: mqtt.max_packet_size = "abc": expected a size such as 64KB or 1MB</c>;
    /// a key that kept its default reads <c>mqtt.x = "5" (default): ...</c>.
    /// </summary>
    public override string ToString()
    {
        var text = new System.Text.StringBuilder();
        if (Origin is not null)
        {
            text.Append(Origin).Append(": ");
        }

        if (Key is not null)
        {
            text.Append(Key);
            if (Value is not null)
            {
                text.Append(" = \"").Append(Value).Append('"');
            }

            if (Origin is null)
            {
                text.Append(" (default)");
            }

            text.Append(": ");
        }

        return text.Append(Problem).ToString();
    }
}
