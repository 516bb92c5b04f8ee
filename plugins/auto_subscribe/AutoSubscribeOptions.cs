namespace Broker.Plugins.AutoSubscribe;

/// <summary>
/// The [ConfKey] part of etc/plugins/auto_subscribe.conf: none. Everything is in the numbered keys
/// <c>subscription.N.topic</c>, <c>.qos</c>, <c>.nl</c>, <c>.rap</c> and <c>.rh</c>, which
/// <see cref="AutoSubscriptionParser"/> reads.
/// </summary>
/// <remarks>Kept, empty, so the plugin binds its options like every other one and a later single-valued key has its place.</remarks>
public sealed class AutoSubscribeOptions
{
}
