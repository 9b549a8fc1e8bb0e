using Tracer.Cli;

return await TracerCommandLine.RunAsync(args).ConfigureAwait(false);
