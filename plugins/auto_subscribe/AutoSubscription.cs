using System.Text;

namespace Broker.Plugins.AutoSubscribe;

/// <summary>What <see cref="AutoSubscription.TryExpand"/> could not do.</summary>
internal enum ExpandStatus
{
    /// <summary>The filter is ready.</summary>
    Expanded,
    /// <summary>The filter uses <c>%u</c> and the client has no user name.</summary>
    NoUsername,
    /// <summary>The client id or user name holds <c>+</c>, <c>#</c>, <c>/</c> or NUL, which would change what the filter matches.</summary>
    UnsafeValue,
}

/// <summary>
/// One configured subscription, <c>subscription.N.*</c>: a filter template in which <c>%c</c> is the client id and
/// <c>%u</c> the user name, and the options it is subscribed with.
/// </summary>
internal sealed class AutoSubscription(string key, int number, string topic, SubscriptionOptions options)
{
    /// <summary>The key of its topic, dotted (<c>subscription.2.topic</c>), for logs.</summary>
    public string Key { get; } = key;

    /// <summary>N: subscriptions are made in ascending N.</summary>
    public int Number { get; } = number;

    /// <summary>The filter as configured, placeholders included.</summary>
    public string Topic { get; } = topic;

    public SubscriptionOptions Options { get; } = options;

    private bool HasPlaceholders { get; } = topic.Contains("%c", StringComparison.Ordinal) || topic.Contains("%u", StringComparison.Ordinal);

    /// <summary>The configured subscriptions in ascending N (the binder has checked each: a valid filter, QoS 0-2...).</summary>
    public static IReadOnlyList<AutoSubscription> From(AutoSubscribeOptions options) =>
        [.. options.Subscriptions.Select(entry => new AutoSubscription($"subscription.{entry.Key}.topic", entry.Key, entry.Value.Topic!.Trim(),
            new SubscriptionOptions((MqttQos)entry.Value.Qos, entry.Value.NoLocal, entry.Value.RetainAsPublished, (MqttRetainHandling)entry.Value.RetainHandling)))];

    /// <summary>The filter for one client. <c>%</c> followed by anything but <c>c</c> or <c>u</c> stays as written.</summary>
    public ExpandStatus TryExpand(string clientId, string? username, out string filter)
    {
        filter = Topic;
        if (!HasPlaceholders)
            return ExpandStatus.Expanded;
        var text = new StringBuilder(Topic.Length + clientId.Length);
        for (var i = 0; i < Topic.Length; i++)
        {
            if (Topic[i] == '%' && i + 1 < Topic.Length && Topic[i + 1] is 'c' or 'u')
            {
                var value = Topic[i + 1] == 'c' ? clientId : username;
                if (string.IsNullOrEmpty(value))
                    return ExpandStatus.NoUsername;
                // A client id "+" must not turn devices/%c/cmd into every device's commands (as acl.conf's %c rules).
                if (value.AsSpan().IndexOfAny("+#/\0") >= 0)
                    return ExpandStatus.UnsafeValue;
                text.Append(value);
                i++;
            }
            else
            {
                text.Append(Topic[i]);
            }
        }
        filter = text.ToString();
        return ExpandStatus.Expanded;
    }
}
