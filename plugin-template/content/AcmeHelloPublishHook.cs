using Broker.Abstractions;
using Broker.Abstractions.Hooks;

namespace Acme.Hello;

/// <summary>
/// The plugin's logic, kept apart from its start-up so it can be tested without a broker: on <c>message.publish</c>,
/// a message whose topic starts with <see cref="AcmeHelloOptions.MatchPrefix"/> gets its prefix rewritten and a user
/// property added.
/// </summary>
/// <remarks>
/// Runs on connection threads, concurrently: it keeps no mutable state. Messages and their properties are immutable
/// and shared, so a change is a copy (<c>with</c>) written back to the context. Messages that do not match cost one
/// prefix comparison and no allocation.
/// </remarks>
internal sealed class AcmeHelloPublishHook(AcmeHelloOptions options)
{
    private static readonly ValueTask<HookResult> ContinueResult = ValueTask.FromResult(HookResult.Continue);

    private readonly string _matchPrefix = options.MatchPrefix;
    private readonly string _rewritePrefix = options.RewritePrefix;
    private readonly MqttUserProperty? _userProperty =
        options.UserPropertyName.Length > 0 ? new MqttUserProperty(options.UserPropertyName, options.UserPropertyValue) : null;

    /// <summary>The <see cref="HookPoints.MessagePublish"/> callback. Never stops the chain: other plugins see the result.</summary>
    /// <param name="context">The message about to be routed.</param>
    public ValueTask<HookResult> OnPublishAsync(MessagePublishContext context)
    {
        var message = context.Message;
        if (!message.Topic.StartsWith(_matchPrefix, StringComparison.Ordinal))
            return ContinueResult;

        var topic = _rewritePrefix.Length > 0
            ? string.Concat(_rewritePrefix, message.Topic.AsSpan(_matchPrefix.Length))
            : message.Topic;
        context.Message = message with { Topic = topic, Properties = WithUserProperty(message.Properties) };
        return ContinueResult;
    }

    private MessageProperties? WithUserProperty(MessageProperties? properties)
    {
        if (_userProperty is not { } added)
            return properties;
        return properties is null
            ? new MessageProperties { UserProperties = [added] }
            : properties with { UserProperties = properties.UserProperties.Add(added) };
    }
}
