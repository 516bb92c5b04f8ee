using Broker.Abstractions.Configuration;

namespace Acme.Hello;

/// <summary>
/// The settings of acme_hello, bound by the broker from <c>etc/plugins/acme_hello.conf</c> (and
/// <c>BROKER_PLUGINS__ACME_HELLO__*</c> environment overrides) through <c>IPluginContext.BindOptions</c>. Each
/// [ConfKey] names its key and describes it; the property initialisers are the defaults, repeated in
/// <c>&lt;remarks&gt;</c> and in the commented <c>acme_hello.conf</c> (a test keeps the .conf equal to them).
/// </summary>
internal sealed class AcmeHelloOptions : IValidatableOptions
{
    /// <summary>The plugin acts on messages whose topic starts with this prefix.</summary>
    /// <remarks>Default <c>hello/</c>. Not empty, no <c>+</c> or <c>#</c>.</remarks>
    [ConfKey("match_prefix", "The plugin acts on messages whose topic starts with this prefix. Must not be empty or contain + or #.")]
    public string MatchPrefix { get; set; } = "hello/";

    /// <summary>When not empty, replaces the matched prefix before the message is routed.</summary>
    /// <remarks>Default empty (topics are left alone). No <c>+</c> or <c>#</c>.</remarks>
    [ConfKey("rewrite_prefix", "When not empty, the matched prefix is replaced by this one before the message is routed: a message published to hello/world reaches subscribers of greetings/world. Empty: topics are left alone. Must not contain + or #.")]
    public string RewritePrefix { get; set; } = "";

    /// <summary>The name of the MQTT 5 user property added to every matching message; empty adds none.</summary>
    /// <remarks>Default <c>greeted-by</c>.</remarks>
    [ConfKey("user_property.name", "Name of an MQTT 5 user property added to every matching message (MQTT 3.1.1 subscribers do not see user properties). Empty adds none.")]
    public string UserPropertyName { get; set; } = "greeted-by";

    /// <summary>The value of that user property.</summary>
    /// <remarks>Default <c>acme_hello</c>.</remarks>
    [ConfKey("user_property.value", "Value of that user property.")]
    public string UserPropertyValue { get; set; } = "acme_hello";

    /// <summary>Rules no single value can check: the broker reports each against the key's file and line.</summary>
    public IEnumerable<(string Key, string Error)> Validate()
    {
        if (MatchPrefix.Length == 0)
            yield return ("match_prefix", "must not be empty");
        if (MatchPrefix.AsSpan().IndexOfAny('+', '#') >= 0)
            yield return ("match_prefix", "must not contain + or #");
        if (RewritePrefix.AsSpan().IndexOfAny('+', '#') >= 0)
            yield return ("rewrite_prefix", "must not contain + or #");
    }
}
