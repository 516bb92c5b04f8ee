using Broker.Ctl;

// ctl: the broker's command line, a client of the management HTTP API (README "Management API and ctl").
var parsed = CtlCommands.BuildRoot().Parse(args);
var code = await parsed.InvokeAsync().ConfigureAwait(false);
// A usage error (unknown command, missing argument) has been printed with help; 2 tells it from a failed command.
return parsed.Errors.Count > 0 ? 2 : code;
