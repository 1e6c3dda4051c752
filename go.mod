module avatargan

go 1.26
