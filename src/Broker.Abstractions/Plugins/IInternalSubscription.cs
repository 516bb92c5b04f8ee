namespace Broker.Abstractions.Plugins;

/// <summary>
/// A plugin's subscription without a client session (<see cref="IPluginContext.SubscribeInternal"/>): what it has
/// received, dropped because its queue was full, and what its handler failed on. Dispose it to unsubscribe; the host
/// disposes what is left when the plugin stops. Since SDK 1.5.
/// </summary>
public interface IInternalSubscription : IDisposable
{
    /// <summary>The filter as subscribed.</summary>
    string TopicFilter { get; }

    /// <summary>Messages handed to the handler.</summary>
    long Received { get; }

    /// <summary>Messages dropped because the queue was full (the handler did not keep up).</summary>
    long Dropped { get; }

    /// <summary>Messages whose handler threw.</summary>
    long Failed { get; }
}
