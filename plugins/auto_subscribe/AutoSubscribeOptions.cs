namespace Broker.Plugins.AutoSubscribe;

/// <summary>etc/plugins/auto_subscribe.conf: the numbered subscriptions, EMQX 4's <c>module.subscription.N.*</c>.</summary>
internal sealed class AutoSubscribeOptions
{
    /// <remarks>None by default.</remarks>
    [ConfList("subscription", "One subscription every client gets when it has connected, made in ascending N.")]
    public SortedDictionary<int, AutoSubscriptionOptions> Subscriptions { get; set; } = [];
}

/// <summary>One <c>subscription.N</c>: a filter template and the options it is subscribed with.</summary>
internal sealed class AutoSubscriptionOptions : IValidatableOptions
{
    /// <remarks>Required.</remarks>
    [ConfKey("topic", "The filter; %c is the client id, %u the user name; $share/<group>/... allowed. Required.", Example = "devices/%c/cmd")]
    public string? Topic { get; set; }

    /// <remarks>Default 1, EMQX 4's.</remarks>
    [ConfKey("qos", "The QoS subscribed with.", Min = "0", Max = "2")]
    public int Qos { get; set; } = 1;

    /// <remarks>Default false.</remarks>
    [ConfKey("nl", "MQTT 5 No Local: the client is not sent its own messages (0 or 1).")]
    public bool NoLocal { get; set; }

    /// <remarks>Default false.</remarks>
    [ConfKey("rap", "MQTT 5 Retain As Published (0 or 1).")]
    public bool RetainAsPublished { get; set; }

    /// <remarks>Default 0.</remarks>
    [ConfKey("rh", "MQTT 5 Retain Handling: 0 retained messages on every subscribe, 1 only on a new subscription, 2 never.", Min = "0", Max = "2")]
    public int RetainHandling { get; set; }

    /// <inheritdoc />
    public IEnumerable<(string Key, string Error)> Validate()
    {
        if (string.IsNullOrWhiteSpace(Topic))
        {
            yield return ("topic", "is not set");
            yield break;
        }
        var shape = Topic.Replace("%c", "x", StringComparison.Ordinal).Replace("%u", "x", StringComparison.Ordinal);
        var shared = Topics.TryParseShared(shape, out var group, out var filter);
        if (!(shared ? group is not null && Topics.IsValidFilter(filter) : Topics.IsValidFilter(shape)))
            yield return ("topic", "not a valid topic filter");
        else if (NoLocal && shared)
            yield return ("nl", "a shared subscription cannot be no-local [MQTT-3.8.3-4]");
    }
}
