namespace Broker.Plugins.Auth;

/// <summary>
/// EMQX 4's keys of the login to a database backend that auth_mysql, auth_pgsql and auth_mongo name alike
/// (<c>pool</c>, <c>username</c>, <c>password</c>, <c>database</c>, <c>query_timeout</c>), written once. A plugin binds
/// them at its own level with an unnamed section where its keys are relative to a [ConfPrefix]
/// (<c>[ConfSection("")]</c> in <see cref="SqlAuthOptions"/>: <c>auth.mysql.pool</c>), or under its root key where it
/// writes full keys (<c>[ConfSection("auth.mongo")]</c>: <c>auth.mongo.pool</c>); the parent's initialiser or
/// constructor may change a default (auth_pgsql's user <c>root</c>).
/// </summary>
public sealed class DatabaseOptions
{
    /// <remarks>Default 8.</remarks>
    [ConfKey("pool", "At most this many connections per database server.", Min = "1")]
    public int Pool { get; set; } = 8;

    /// <remarks>Default empty; the backend may set another.</remarks>
    [ConfKey("username", "The database user; empty = none.")]
    public string Username { get; set; } = "";

    /// <remarks>Default empty (none).</remarks>
    [ConfKey("password", "Its password; empty = none.")]
    public string Password { get; set; } = "";

    /// <remarks>Default mqtt.</remarks>
    [ConfKey("database", "The database holding the users and ACLs (the tables or collections mqtt_user and mqtt_acl by default).")]
    public string Database { get; set; } = "mqtt";

    /// <remarks>Default 5s.</remarks>
    [ConfKey("query_timeout", "How long one query may take; it is cancelled after and the client is judged by on_error.", Unit = ConfUnit.Duration, Min = "10ms")]
    public TimeSpan QueryTimeout { get; set; } = TimeSpan.FromSeconds(5);
}
