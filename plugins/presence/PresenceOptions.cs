namespace Broker.Plugins.Presence;

/// <summary>etc/plugins/presence.conf.</summary>
internal sealed class PresenceOptions
{
    /// <remarks>Default 1 (EMQX's <c>module.presence.qos</c>).</remarks>
    [ConfKey("qos", "QoS of the connected/disconnected messages: 0, 1 or 2. Each subscriber receives them at most at the QoS it subscribed with.", Min = "0", Max = "2")]
    public int Qos { get; set; } = 1;

    /// <summary>The configured QoS.</summary>
    internal MqttQos MessageQos => (MqttQos)Qos;
}
