namespace Broker.Abstractions.Configuration;

/// <summary>
/// Binds a <see cref="Dictionary{TKey, TValue}"/> property (keyed by name) to named sections of the .conf file, as
/// EMQX's listeners: <c>listener.tcp.external = 0.0.0.0:1883</c>, <c>listener.tcp.internal = 127.0.0.1:11883</c>,
/// <c>listener.tcp.internal.max_connections = 1000</c>. The entry class's [ConfKey]s are relative to
/// <c>Key.&lt;name&gt;</c>; one with the empty key takes the section's own value. A name the dictionary already holds
/// (a default entry) is bound over its defaults; any other name is a new entry with the class's defaults. Names are
/// letters, digits and '_'. For plugins too (SDK 2.1): EMQX's <c>auth.http.auth_req.headers.&lt;name&gt; = value</c> or
/// <c>auth.jwt.verify_claims.&lt;claim&gt; = value</c> are a map whose entry class has one [ConfKey] with the empty key.
/// </summary>
[AttributeUsage(AttributeTargets.Property, AllowMultiple = false, Inherited = true)]
public sealed class ConfMapAttribute(string key, string description) : Attribute
{
    /// <summary>The key before the name, e.g. <c>listener.tcp</c>.</summary>
    public string Key { get; } = key;

    /// <summary>What one named entry is, for operators: shown once above the default entries in the .conf.</summary>
    public string Description { get; } = description;
}
