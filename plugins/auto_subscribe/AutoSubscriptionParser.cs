using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace Broker.Plugins.AutoSubscribe;

/// <summary>
/// Reads the numbered subscriptions of auto_subscribe.conf, EMQX 4's <c>module.subscription.N.*</c> without the
/// <c>module.</c>: <c>subscription.N.topic</c> (required) and <c>.qos</c> (default 1), <c>.nl</c>, <c>.rap</c>,
/// <c>.rh</c> (default 0). Every problem is collected and reported together, one "file:line: key = value: problem"
/// line each.
/// </summary>
internal static class AutoSubscriptionParser
{
    /// <summary>EMQX 4's default QoS of an auto subscription (<c>module.subscription.N.qos</c>).</summary>
    public const MqttQos DefaultQos = MqttQos.AtLeastOnce;

    /// <summary>Parses every subscription, in ascending N; throws <see cref="PluginConfigurationException"/> listing every bad line.</summary>
    /// <param name="configuration">The plugin's configuration.</param>
    /// <param name="originOf">Where a dotted key was set (<see cref="IPluginContext.OriginOf"/>).</param>
    public static IReadOnlyList<AutoSubscription> Parse(IConfiguration configuration, Func<string, string?> originOf)
    {
        var errors = new List<string>();
        var entries = new SortedDictionary<int, Entry>();
        foreach (var (path, value) in configuration.AsEnumerable())
        {
            if (value is null)
                continue; // a section: its keys come on their own
            var key = path.Replace(':', '.');
            var levels = path.Split(':');
            if (levels is not [var section, var number, var field]
                || !section.Equals("subscription", StringComparison.OrdinalIgnoreCase)
                || !IsField(field))
            {
                errors.Add($"{originOf(key)}: {key} = {value}: unknown key; subscriptions are subscription.N.topic, .qos, .nl, .rap and .rh");
                continue;
            }
            if (!int.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < 1)
            {
                errors.Add($"{originOf(key)}: {key} = {value}: N must be a whole number from 1");
                continue;
            }
            if (!entries.TryGetValue(n, out var entry))
                entries[n] = entry = new Entry();
            entry.Fields[field.ToLowerInvariant()] = (key, value);
        }

        var subscriptions = new List<AutoSubscription>(entries.Count);
        foreach (var (n, entry) in entries)
        {
            if (TryBuild(n, entry, originOf, errors) is { } subscription)
                subscriptions.Add(subscription);
        }
        if (errors.Count > 0)
            throw new PluginConfigurationException(string.Join(Environment.NewLine, errors));
        return subscriptions;
    }

    private static AutoSubscription? TryBuild(int n, Entry entry, Func<string, string?> originOf, List<string> errors)
    {
        var before = errors.Count;
        if (!entry.Fields.TryGetValue("topic", out var topic))
        {
            var (someKey, someValue) = entry.Fields.Values.First();
            errors.Add($"{originOf(someKey)}: {someKey} = {someValue}: subscription.{n}.topic is not set");
            return null;
        }
        var shape = topic.Value.Replace("%c", "x", StringComparison.Ordinal).Replace("%u", "x", StringComparison.Ordinal);
        if (!(Topics.TryParseShared(shape, out var group, out var filter) ? group is not null && Topics.IsValidFilter(filter) : Topics.IsValidFilter(shape)))
            errors.Add($"{originOf(topic.Key)}: {topic.Key} = {topic.Value}: not a valid topic filter");

        var qos = Number(entry, "qos", (int)DefaultQos, 2, originOf, errors);
        var noLocal = Flag(entry, "nl", originOf, errors);
        var retainAsPublished = Flag(entry, "rap", originOf, errors);
        var retainHandling = Number(entry, "rh", 0, 2, originOf, errors);
        if (noLocal && Topics.TryParseShared(topic.Value, out _, out _) && entry.Fields.TryGetValue("nl", out var nl))
            errors.Add($"{originOf(nl.Key)}: {nl.Key} = {nl.Value}: a shared subscription cannot be no-local [MQTT-3.8.3-4]");
        if (errors.Count > before)
            return null;
        var options = new SubscriptionOptions((MqttQos)qos, noLocal, retainAsPublished, (MqttRetainHandling)retainHandling);
        return new AutoSubscription(topic.Key, n, topic.Value.Trim(), options);
    }

    private static int Number(Entry entry, string field, int defaultValue, int max, Func<string, string?> originOf, List<string> errors)
    {
        if (!entry.Fields.TryGetValue(field, out var set))
            return defaultValue;
        if (int.TryParse(set.Value.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value <= max)
            return value;
        errors.Add($"{originOf(set.Key)}: {set.Key} = {set.Value}: expected 0 to {max}");
        return defaultValue;
    }

    private static bool Flag(Entry entry, string field, Func<string, string?> originOf, List<string> errors)
    {
        if (!entry.Fields.TryGetValue(field, out var set))
            return false;
        switch (set.Value.Trim().ToLowerInvariant())
        {
            case "0" or "false":
                return false;
            case "1" or "true":
                return true;
            default:
                errors.Add($"{originOf(set.Key)}: {set.Key} = {set.Value}: expected 0 or 1 (or false/true)");
                return false;
        }
    }

    private static bool IsField(string field) => field.ToLowerInvariant() is "topic" or "qos" or "nl" or "rap" or "rh";

    private sealed class Entry
    {
        public Dictionary<string, (string Key, string Value)> Fields { get; } = new(StringComparer.Ordinal);
    }
}
